using Catalog.Api.Security;
using Catalog.Contracts;

namespace Catalog.Api.Lineage;

public static class LineageApi
{
    public static IEndpointRouteBuilder MapLineageApi(this IEndpointRouteBuilder app)
    {
        // The direction is spelled as documented (ancestors, descendants), as the JSON answers spell it.
        app.MapGet("/api/v1/lineage", (string? lfn, string? direction, int? depth, LineageService s, Caller caller, CancellationToken ct) =>
                s.WalkAsync(lfn, ParseDirection(direction), depth, caller, ct))
            .WithTags("Datasets").WithName("Lineage").WithSummary("Walk lineage")
            .WithDescription("Ancestors or descendants of a file to a given depth (parents recorded at registration).");
        return app;
    }

    private static LineageDirection ParseDirection(string? text)
    {
        if (text is null) return LineageDirection.Ancestors;
        foreach (var d in Enum.GetValues<LineageDirection>())
            if (CatalogJson.Name(d) == text.ToLowerInvariant()) return d;
        throw Errors.CatalogException.Invalid("direction", $"must be one of {string.Join(", ", Enum.GetValues<LineageDirection>().Select(x => CatalogJson.Name(x)))}, not '{text}'");
    }
}
