using Catalog.Api.Errors;
using Catalog.Api.Hosting;
using Catalog.Api.Namespace;
using Catalog.Api.Security;
using Catalog.Contracts;
using Catalog.Storage;
using Microsoft.Extensions.Options;

namespace Catalog.Api.Lineage;

/// <summary>Ancestors and descendants of a file through the parent LFNs recorded at registration.</summary>
public sealed class LineageService(Db db, IOptions<CatalogOptions> options, Access access)
{
    public const int MaxDepth = 20;
    public const int MaxEdges = 100_000;

    public async Task<LineageResponse> WalkAsync(string? lfn, LineageDirection direction, int? depth, Caller caller, CancellationToken ct)
    {
        var path = Lfn.Parse(lfn, options.Value.Roots, "lfn");
        access.Demand(caller, Operation.Read, path.Path, "lfn");
        var steps = depth ?? 1;
        if (steps is < 1 or > MaxDepth) throw new CatalogException(ErrorCode.LimitExceeded, $"depth must be between 1 and {MaxDepth}", "depth");
        await using var conn = await db.OpenAsync(ct);
        var file = await NamespaceService.FindFileAsync(conn, null, path, ct);
        if (!await Access.CanSeeAsync(conn, null, caller, path.Parent, file, ct))
            throw CatalogException.NotFound($"file '{path.Path}'", "lfn");
        var edges = await LineageStore.WalkAsync(conn, file.Id, direction == LineageDirection.Ancestors, steps, MaxEdges,
            await access.ViewerAsync(conn, null, caller, ["/"], ct), ct);
        return new LineageResponse(path.Path, direction, steps, edges
            .Where(e => access.Check(caller, Operation.Read, e.Child) is null && access.Check(caller, Operation.Read, e.Parent) is null)
            .Select(e => new LineageEdge(e.Child, e.Parent, e.Depth)).ToList());
    }
}
