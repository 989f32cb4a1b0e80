using Catalog.Api.Security;
using Catalog.Contracts;

namespace Catalog.Api.StorageElements;

public static class StorageElementsApi
{
    public static IEndpointRouteBuilder MapStorageElementsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/storage-elements").WithTags("Storage elements");
        api.MapGet("/", (string? expression, StorageElementService s, Caller caller, CancellationToken ct) => s.ListAsync(expression, caller, ct))
            .WithName("ListStorageElements").WithSummary("List storage elements")
            .WithDescription("All storage elements with their usage, or those an SE expression selects (expression=tier=1&region!=asia, as rules take).")
            .ProducesProblem(400);
        api.MapPost("/{name}/rename", (string name, RenameRequest request, StorageElementService s, Caller caller, CancellationToken ct) => s.RenameAsync(name, request, caller, ct))
            .WithName("RenameStorageElement").WithSummary("Rename storage element")
            .WithDescription("Renames an SE; every replica stays on it (data managers).").ProducesProblem(404).ProducesProblem(409);
        api.MapGet("/{name}", (string name, StorageElementService s, Caller caller, CancellationToken ct) => s.GetAsync(name, caller, ct))
            .WithName("GetStorageElement").WithSummary("Get storage element")
            .WithDescription("One storage element.").ProducesProblem(404);
        api.MapGet("/{name}/replicas", (string name, StorageElementService s, Caller caller, CancellationToken ct) =>
                new Http.JsonArrayStream<SeReplica>(s.DumpAsync(name, caller, ct)))
            .Produces<IAsyncEnumerable<SeReplica>>(200, "application/json")
            .WithName("DumpStorageElement").WithSummary("Dump an SE's replicas")
            .WithDescription("Every replica on the SE, streamed (data managers): the catalog's side of a consistency check.")
            .ProducesProblem(403).ProducesProblem(404);
        api.MapPut("/{name}", (string name, StorageElementSpec spec, StorageElementService s, Caller caller, CancellationToken ct) => s.PutAsync(name, spec, caller, ct))
            .WithName("PutStorageElement").WithSummary("Add or change a storage element")
            .WithDescription("Creates or replaces a storage element.").ProducesProblem(400);
        api.MapDelete("/{name}", async (string name, StorageElementService s, Caller caller, CancellationToken ct) =>
            {
                await s.DeleteAsync(name, caller, ct);
                return Results.NoContent();
            })
            .WithName("DeleteStorageElement").WithSummary("Delete storage element")
            .WithDescription("Removes an SE that holds no replicas; one that does not exist is a 404.").ProducesProblem(404).ProducesProblem(409);
        return app;
    }
}
