using Catalog.Contracts;

namespace Catalog.Api.StorageElements;

public static class StorageElementsApi
{
    public static IEndpointRouteBuilder MapStorageElementsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/storage-elements").WithTags("Storage elements");
        api.MapGet("/", (StorageElementService s, CancellationToken ct) => s.ListAsync(ct))
            .WithName("ListStorageElements").WithSummary("All storage elements with their usage.");
        api.MapGet("/{name}", (string name, StorageElementService s, CancellationToken ct) => s.GetAsync(name, ct))
            .WithName("GetStorageElement").WithSummary("One storage element.").ProducesProblem(404);
        api.MapPut("/{name}", (string name, StorageElementSpec spec, StorageElementService s, CancellationToken ct) => s.PutAsync(name, spec, ct))
            .WithName("PutStorageElement").WithSummary("Creates or replaces a storage element.").ProducesProblem(400);
        api.MapDelete("/{name}", async (string name, StorageElementService s, CancellationToken ct) =>
            {
                await s.DeleteAsync(name, ct);
                return Results.NoContent();
            })
            .WithName("DeleteStorageElement").WithSummary("Removes an SE that holds no replicas.").ProducesProblem(409);
        return app;
    }
}
