using Catalog.Api.Security;
using Catalog.Contracts;

namespace Catalog.Api.Lineage;

public static class LineageApi
{
    public static IEndpointRouteBuilder MapLineageApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/lineage", (string? lfn, LineageDirection? direction, int? depth, LineageService s, Caller caller, CancellationToken ct) =>
                s.WalkAsync(lfn, direction ?? LineageDirection.Ancestors, depth, caller, ct))
            .WithTags("Datasets").WithName("Lineage").WithSummary("Ancestors or descendants of a file to a given depth (parents recorded at registration).");
        return app;
    }
}
