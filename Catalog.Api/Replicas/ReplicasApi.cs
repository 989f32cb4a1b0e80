using Catalog.Api.Security;
using Catalog.Contracts;

namespace Catalog.Api.Replicas;

public static class ReplicasApi
{
    public static IEndpointRouteBuilder MapReplicasApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/replicas").WithTags("Replicas");
        api.MapGet("/", (string? lfn, bool? all, string? se, ReplicaService s, Caller caller, CancellationToken ct) => s.ListAsync(lfn, all == true, se, caller, ct))
            .WithName("ListReplicas").WithSummary("List replicas")
            .WithDescription("The usable replicas of one LFN (available, on a read-enabled SE); all=true for every state; se=EXPR only on the SEs an expression selects.")
            .ProducesProblem(400).ProducesProblem(404);
        api.MapPost("/", (AddReplicasRequest request, ReplicaService s, Caller caller, CancellationToken ct) => s.AddAsync(request, caller, ct))
            .WithName("AddReplicas").WithSummary("Add replicas")
            .WithDescription("Adds replicas to registered files, per item.").ProducesProblem(400);
        api.MapPost("/remove", (RemoveReplicasRequest request, ReplicaService s, Caller caller, CancellationToken ct) => s.RemoveAsync(request, caller, ct))
            .WithName("RemoveReplicas").WithSummary("Remove replicas")
            .WithDescription("Removes replicas, per item; the file stays.").ProducesProblem(400);
        api.MapPost("/state", (SetReplicaStateRequest request, ReplicaService s, Caller caller, CancellationToken ct) => s.SetStateAsync(request, caller, ct))
            .WithName("SetReplicaState").WithSummary("Set replica state")
            .WithDescription("Sets replica states, per item.").ProducesProblem(400);
        api.MapPost("/lookup", async (LookupRequest request, ReplicaService s, Caller caller, CancellationToken ct) =>
                new Http.JsonArrayStream<LookupResult>(s.Lookup(request, caller, ct, await s.SesForAsync(request, ct))))
            .Produces<IAsyncEnumerable<LookupResult>>(200, "application/json")
            .WithName("LookupReplicas").WithSummary("Look up replicas")
            .WithDescription("Bulk LFN -> usable replicas (all: true for every state), streamed in request order; unknown LFNs are answered per item.")
            .ProducesProblem(400).ReadOnly();
        return app;
    }
}
