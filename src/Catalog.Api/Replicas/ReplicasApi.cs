using Catalog.Contracts;

namespace Catalog.Api.Replicas;

public static class ReplicasApi
{
    public static IEndpointRouteBuilder MapReplicasApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/replicas").WithTags("Replicas");
        api.MapGet("/", (string? lfn, ReplicaService s, CancellationToken ct) => s.ListAsync(lfn, ct))
            .WithName("ListReplicas").WithSummary("The replicas of one LFN.").ProducesProblem(400).ProducesProblem(404);
        api.MapPost("/", (AddReplicasRequest request, ReplicaService s, CancellationToken ct) => s.AddAsync(request, ct))
            .WithName("AddReplicas").WithSummary("Adds replicas to registered files, per item.").ProducesProblem(400);
        api.MapPost("/remove", (RemoveReplicasRequest request, ReplicaService s, CancellationToken ct) => s.RemoveAsync(request, ct))
            .WithName("RemoveReplicas").WithSummary("Removes replicas, per item; the file stays.").ProducesProblem(400);
        api.MapPost("/state", (SetReplicaStateRequest request, ReplicaService s, CancellationToken ct) => s.SetStateAsync(request, ct))
            .WithName("SetReplicaState").WithSummary("Sets replica states, per item.").ProducesProblem(400);
        api.MapPost("/lookup", (LookupRequest request, ReplicaService s, CancellationToken ct) => s.Lookup(request, ct))
            .WithName("LookupReplicas").WithSummary("Bulk LFN -> replicas, streamed in request order; unknown LFNs are answered per item.")
            .ProducesProblem(400);
        return app;
    }
}
