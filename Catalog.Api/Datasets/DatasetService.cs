using System.Text.Json.Nodes;
using Catalog.Api.Audit;
using Catalog.Api.Errors;
using Catalog.Api.Hosting;
using Catalog.Api.Metadata;
using Catalog.Api.Namespace;
using Catalog.Api.Security;
using Catalog.Contracts;
using Catalog.Storage;
using Dapper;
using Microsoft.Extensions.Options;

namespace Catalog.Api.Datasets;

/// <summary>Datasets (LPNs): directories marked as such, whose files land in datablocks subNN.</summary>
public sealed class DatasetService(Db db, IOptions<CatalogOptions> options, Access access, AuditLog audit, MetadataService metadata, NamespaceService ns,
    HotCache cache)
{
    public async Task<DatasetInfo> CreateAsync(DatasetRequest request, Caller caller, CancellationToken ct)
    {
        var path = Lfn.ParseBelowRoot(request.Path, options.Value.Roots, "path");
        var max = request.MaxFilesPerBlock ?? options.Value.MaxFilesPerDatablock;
        if (max is < 1 or > 1_000_000) throw CatalogException.Invalid("maxFilesPerBlock", "must be between 1 and 1000000");
        access.Demand(caller, Operation.Create, path.Path, "path");
        await ns.MakeDirectoryAsync(new MakeDirectoryRequest(path.Path, Parents: true), caller, ct);
        await db.WriteAsync(async (conn, tx) =>
        {
            var dir = (await DirectoryStore.GetAsync(conn, tx, path.Path, ct, forUpdate: true))!;
            // Making a directory a dataset changes it: w on the directory itself, not only where it was made.
            access.DemandMode(caller, Operation.Create, dir.Owner, dir.Grp, dir.Mode, path.Path, "path");
            var kind = (await MetadataStore.DirectoryValuesAsync(conn, tx, [path.Path], ct))[0].Kind;
            if (kind is not (DatasetStore.DirectoryKind or DatasetStore.DatasetKind))
                throw new CatalogException(ErrorCode.Conflict, $"'{path.Path}' is a datablock or collection, not a directory that can become a dataset", "path");
            await DatasetStore.CreateAsync(conn, tx, dir.Id, max, ct);
            return true;
        }, ct);
        await audit.RecordAsync(caller, "dataset.create", path.Path, "created");
        if (request.Metadata is { Count: > 0 } values)
        {
            var written = await metadata.WriteAsync(new MetadataWriteRequest([new MetadataWrite(path.Path, values)]), caller, ct);
            if (written.Results[0].Error is { } e) throw new CatalogException(e.Code, e.Message.Replace("items[0].values", "metadata"), "metadata");
        }
        return await InfoAsync(path.Path, caller, ct);
    }

    public async Task<DatasetInfo> InfoAsync(string? lpn, Caller caller, CancellationToken ct)
    {
        var path = Lfn.Parse(lpn, options.Value.Roots, "path");
        access.Demand(caller, Operation.Read, path.Path, "path");
        await using var conn = await db.OpenAsync(ct);
        var (row, dataset) = await FindAsync(conn, path.Path, ct);
        return new DatasetInfo(path.Path, dataset.MaxFiles, dataset.CurrentBlock, Parse(row.Own));
    }

    /// <summary>Files, bytes, events, experiment and run ranges, and per SE how many of its files have a replica there.</summary>
    public async Task<DatasetSummary> SummaryAsync(string? lpn, Caller caller, CancellationToken ct)
    {
        var path = Lfn.Parse(lpn, options.Value.Roots, "path");
        access.Demand(caller, Operation.Read, path.Path, "path");
        return (await cache.GetOrLoadAsync(CacheSpace.Dataset, path.Path, async () =>
        {
            await using var conn = await db.OpenAsync(CancellationToken.None);
            var (row, _) = await FindAsync(conn, path.Path, CancellationToken.None);
            var (sum, perSeRows) = await DatasetStore.SummaryAsync(conn, path.Path, row.Id, CancellationToken.None);
            var perSe = perSeRows.Select(x => new SeUsage(x.Se, x.Files, x.Bytes)).ToList();
            return new DatasetSummary(path.Path, sum.Files, sum.Bytes, sum.Events, sum.ExpLow, sum.ExpHigh, sum.RunLow, sum.RunHigh, sum.Datablocks, perSe, Parse(row.Effective));
        }, ct))!;
    }
    /// <summary>Datasets at or below a path, by path, keyset paged.</summary>
    public async Task<IReadOnlyList<DatasetInfo>> ListAsync(string? under, string? after, int? limit, Caller caller, CancellationToken ct)
    {
        var path = Lfn.Parse(under, options.Value.Roots, "under");
        access.Demand(caller, Operation.Read, path.Path, "under");
        var size = options.Value.PageSize(limit, 1000);
        await using var conn = await db.OpenAsync(ct);
        var rows = await DatasetStore.ListAsync(conn, path.Path, after ?? "", size, ct);
        return rows.Select(r => new DatasetInfo(r.Path, r.MaxFiles, r.CurrentBlock, Parse(r.Metadata))).ToList();
    }

    private static async Task<((string Path, long Id, short Kind, string? Own, string? Effective) Row, DatasetRow Dataset)> FindAsync(
        Npgsql.NpgsqlConnection conn, string path, CancellationToken ct)
    {
        var rows = await MetadataStore.DirectoryValuesAsync(conn, null, [path], ct);
        if (rows.Count == 0 || rows[0].Kind != DatasetStore.DatasetKind) throw CatalogException.NotFound($"dataset '{path}'", "path");
        return (rows[0], (await DatasetStore.GetAsync(conn, null, rows[0].Id, ct))!);
    }

    internal static JsonObject? Parse(string? json) => json is null ? null : JsonNode.Parse(json)!.AsObject();
}
