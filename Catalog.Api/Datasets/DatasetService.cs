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
public sealed class DatasetService(Db db, IOptions<CatalogOptions> options, Access access, AuditLog audit, MetadataService metadata,
    HotCache cache)
{
    /// <summary>
    /// Makes a directory (created with its parents if needed) a dataset, with its metadata, in one
    /// transaction: a refused request stores nothing, not even the directories. Creating an existing
    /// dataset again succeeds only if it asks for what is there (same datablock size when given,
    /// same values for the attributes given) and changes nothing; otherwise it is a conflict.
    /// </summary>
    public async Task<DatasetInfo> CreateAsync(DatasetRequest request, Caller caller, CancellationToken ct)
    {
        var path = Lfn.ParseBelowRoot(request.Path, options.Value.Roots, "path");
        var max = request.MaxFilesPerBlock ?? options.Value.MaxFilesPerDatablock;
        if (max is < 1 or > 1_000_000) throw CatalogException.Invalid("maxFilesPerBlock", "must be between 1 and 1000000");
        access.Demand(caller, Operation.Create, path.Path, "path");
        var created = await db.WriteAsync(async (conn, tx) =>
        {
            var dir = await DirectoryStore.GetAsync(conn, tx, path.Path, ct, forUpdate: true);
            // Values on a directory that is someone else's are a metadata change (POST /metadata),
            // which needs the data-manager role: a producer sets them only on its own directories.
            if (dir is not null && request.Metadata is { Count: > 0 } && !caller.BypassesModes && dir.Owner != caller.Subject
                && await Access.CanSeeAsync(conn, tx, caller, dir, ct))
                throw new CatalogException(ErrorCode.Forbidden,
                    $"'{caller.Subject}' may not set metadata on '{path.Path}', which belongs to {dir.Owner}: that needs the data-manager role", "metadata");
            if (dir is null)
            {
                if (await NamespaceService.FindFileAsync(conn, tx, path, ct) is not null)
                    throw new CatalogException(ErrorCode.Conflict, $"a file exists at '{path.Path}'", "path");
                await DirectoryTree.DemandWritableAsync(conn, tx, [path], caller, access, "path", ct);
                if (!(await DirectoryTree.EnsureAsync(conn, tx, [path], caller.User, null, ct)).ContainsKey(path.Path))
                    throw new CatalogException(ErrorCode.Conflict, $"a file exists at '{path.Path}' or one of its parents", "path");
                dir = (await DirectoryStore.GetAsync(conn, tx, path.Path, ct, forUpdate: true))!;
            }
            // Making a directory a dataset changes it: w on the directory itself, not only where it was made.
            access.DemandMode(caller, Operation.Create, dir.Owner, dir.Grp, dir.Mode, path.Path, "path");
            var (_, _, kind, own, _) = (await MetadataStore.DirectoryValuesAsync(conn, tx, [path.Path], ct))[0];
            if (kind == DatasetStore.DatasetKind)
            {
                await SameAsExistingAsync(conn, tx, path, request, own, ct);
                return false;
            }
            if (kind != DatasetStore.DirectoryKind)
                throw new CatalogException(ErrorCode.Conflict, $"'{path.Path}' is a datablock or collection, not a directory that can become a dataset", "path");
            await DatasetStore.CreateAsync(conn, tx, dir.Id, max, ct);
            if (request.Metadata is { Count: > 0 } values)
                await metadata.ApplyDirectoryValuesAsync(conn, tx, path, dir.Id, values, "metadata", ct);
            return true;
        }, ct);
        if (created)
        {
            await cache.InvalidateAsync(CacheSpace.Dataset, [path.Path]);
            await audit.RecordAsync(caller, "dataset.create", path.Path, "created");
        }
        return await InfoAsync(path.Path, caller, ct);
    }

    /// <summary>An existing dataset asked for again: refused unless the request matches what is stored.</summary>
    private static async Task SameAsExistingAsync(Npgsql.NpgsqlConnection conn, Npgsql.NpgsqlTransaction tx, LfnPath path, DatasetRequest request,
        string? own, CancellationToken ct)
    {
        var dataset = (await DatasetStore.LockAsync(conn, tx, path.Path, ct))!;
        if (request.MaxFilesPerBlock is { } max && max != dataset.MaxFiles)
            throw new CatalogException(ErrorCode.Conflict,
                $"'{path.Path}' is already a dataset with {dataset.MaxFiles} files per datablock; it is not changed", "maxFilesPerBlock");
        if (request.Metadata is not { Count: > 0 } values) return;
        var schema = (await AttributeSchema.LoadAsync(conn, tx, [path.Path], ct))[path.Path];
        if (schema.Check(values, AttributeTarget.Directories, "metadata", out var normalized) is { } error)
            throw new CatalogException(error.Code, error.Message, error.Field);
        var stored = Parse(own) ?? [];
        foreach (var (name, value) in normalized)
            if (!JsonNode.DeepEquals(stored[name], value))
                throw new CatalogException(ErrorCode.Conflict,
                    $"'{path.Path}' is already a dataset with {name} = {stored[name]?.ToJsonString() ?? "nothing"}; change values with POST /api/v1/metadata", $"metadata.{name}");
    }

    public async Task<DatasetInfo> InfoAsync(string? lpn, Caller caller, CancellationToken ct)
    {
        var path = Lfn.Parse(lpn, options.Value.Roots, "path");
        access.Demand(caller, Operation.Read, path.Path, "path");
        await using var conn = await db.OpenAsync(ct);
        var (row, dataset) = await FindAsync(conn, path.Path, caller, ct);
        return new DatasetInfo(path.Path, dataset.MaxFiles, dataset.CurrentBlock, Parse(row.Own),
            State: (DatasetState)dataset.State, Expires: dataset.Expires is { } e ? Http.Mapping.Utc(e) : null);
    }

    /// <summary>Closes a dataset: no more files go into it, and it may go into collections. Its writers or a data manager; closing a closed one is fine.</summary>
    public Task<DatasetInfo> CloseAsync(DatasetPathRequest request, Caller caller, CancellationToken ct) =>
        ChangeAsync(request.Path, caller, "dataset.close", "closed", reopen: false, ct, (conn, tx, row) => DatasetStore.SetStateAsync(conn, tx, row.DirId, 1, ct));

    /// <summary>Reopens a closed dataset (data managers only: collections may hold it).</summary>
    public Task<DatasetInfo> ReopenAsync(DatasetPathRequest request, Caller caller, CancellationToken ct) =>
        ChangeAsync(request.Path, caller, "dataset.reopen", "reopened", reopen: true, ct, (conn, tx, row) => DatasetStore.SetStateAsync(conn, tx, row.DirId, 0, ct));

    /// <summary>Sets (or, with null, clears) a dataset's lifetime; once past it the dataset is flagged for deletion.</summary>
    public Task<DatasetInfo> SetLifetimeAsync(DatasetLifetimeRequest request, Caller caller, CancellationToken ct) =>
        ChangeAsync(request.Path, caller, "dataset.lifetime", "changed", reopen: false, ct, (conn, tx, row) => DatasetStore.SetExpiresAsync(conn, tx, row.DirId, request.Expires, ct),
            new() { ["expires"] = request.Expires?.ToString("o") ?? "never" });

    private async Task<DatasetInfo> ChangeAsync(string? lpn, Caller caller, string action, string outcome, bool reopen, CancellationToken ct,
        Func<Npgsql.NpgsqlConnection, Npgsql.NpgsqlTransaction, DatasetRow, Task> change, Dictionary<string, string?>? detail = null)
    {
        var path = Lfn.Parse(lpn, options.Value.Roots, "path");
        if (reopen) access.DemandRole(caller, Role.DataManager, "reopen datasets");
        access.Demand(caller, Operation.Create, path.Path, "path");
        await db.WriteAsync(async (conn, tx) =>
        {
            var dir = await DirectoryStore.GetAsync(conn, tx, path.Path, ct);
            var dataset = dir is null ? null : await DatasetStore.LockAsync(conn, tx, path.Path, ct);
            if (dir is null || dataset is null || !await Access.CanSeeAsync(conn, tx, caller, dir, ct))
                throw CatalogException.NotFound($"dataset '{path.Path}'", "path");
            if (!caller.BypassesModes && access.CheckMode(caller, Operation.Create, dir.Owner, dir.Grp, dir.Mode, dir.Path) is { } refused)
                throw new CatalogException(refused.Code, refused.Message, "path");
            await change(conn, tx, dataset);
            return true;
        }, ct);
        await cache.InvalidateAsync(CacheSpace.Dataset, [path.Path]);
        await audit.RecordAsync(caller, action, path.Path, outcome, detail);
        return await InfoAsync(path.Path, caller, ct);
    }

    /// <summary>
    /// Files, bytes, events, experiment and run ranges, and per SE how many of its files have a
    /// replica there. Cached for every caller who sees the whole dataset; one from whom part of it
    /// is hidden gets its own figures, read past the cache.
    /// </summary>
    public async Task<DatasetSummary> SummaryAsync(string? lpn, Caller caller, CancellationToken ct)
    {
        var path = Lfn.Parse(lpn, options.Value.Roots, "path");
        access.Demand(caller, Operation.Read, path.Path, "path");
        Viewer? viewer = null;
        if (!caller.BypassesModes)
            await using (var conn = await db.OpenAsync(ct))
            {
                await FindAsync(conn, path.Path, caller, ct);
                viewer = await access.ViewerAsync(conn, null, caller, [path.Path], ct);
                if (viewer.Closed.Length == 0 && !await Viewer.HidesFilesAsync(conn, viewer, [path.Path], ct)) viewer = null;
            }
        if (viewer is not null) return await ReadSummaryAsync(path.Path, caller, viewer, ct);
        return (await cache.GetOrLoadAsync(CacheSpace.Dataset, path.Path, () => ReadSummaryAsync(path.Path, Caller.System, null, CancellationToken.None), ct))!;
    }

    private async Task<DatasetSummary> ReadSummaryAsync(string path, Caller caller, Viewer? viewer, CancellationToken ct)
    {
        await using var conn = await db.OpenAsync(ct);
        var (row, _) = await FindAsync(conn, path, caller, ct);
        var (sum, perSeRows) = await DatasetStore.SummaryAsync(conn, path, row.Id, viewer, ct);
        var perSe = perSeRows.Select(x => new SeUsage(x.Se, x.Files, x.Bytes)).ToList();
        return new DatasetSummary(path, sum.Files, sum.Bytes, sum.Events, sum.ExpLow, sum.ExpHigh, sum.RunLow, sum.RunHigh, sum.Datablocks, perSe, Parse(row.Effective));
    }

    /// <summary>Datasets at or below a path, by path, keyset paged, with their length and creation time, optionally within windows of both.</summary>
    public async Task<IReadOnlyList<DatasetInfo>> ListAsync(string? under, string? after, int? limit, Caller caller, CancellationToken ct, DatasetWindow? window = null)
    {
        var path = Lfn.Parse(under, options.Value.Roots, "under");
        access.Demand(caller, Operation.Read, path.Path, "under");
        window ??= new DatasetWindow();
        if (window.MinFiles is < 0) throw CatalogException.Invalid("minFiles", "must be 0 or more");
        if (window.MaxFiles is { } max && (max < 0 || max < window.MinFiles)) throw CatalogException.Invalid("maxFiles", "must be 0 or more, and at least minFiles");
        if (window.CreatedFrom is { } from && window.CreatedTo is { } to && to <= from) throw CatalogException.Invalid("createdBefore", "must be after createdAfter");
        var size = options.Value.PageSize(limit, 1000);
        await using var conn = await db.OpenAsync(ct);
        var viewer = await access.ViewerAsync(conn, null, caller, [path.Path], ct);
        // Lengths from the counters unless files in range may be hidden from this caller.
        if (viewer is not null && viewer.Closed.Length == 0 && !await Viewer.HidesFilesAsync(conn, viewer, [path.Path], ct)) viewer = null;
        var rows = await DatasetStore.ListAsync(conn, path.Path, after ?? "", size, viewer, window, ct);
        return rows.Select(r => new DatasetInfo(r.Path, r.MaxFiles, r.CurrentBlock, Parse(r.Metadata), r.Files, Http.Mapping.Utc(r.Created),
            (DatasetState)r.State, r.Expires is { } e ? Http.Mapping.Utc(e) : null)).ToList();
    }

    /// <summary>The dataset at <paramref name="path"/>, if the caller may see it (else 404, as if missing).</summary>
    private static async Task<((string Path, long Id, short Kind, string? Own, string? Effective) Row, DatasetRow Dataset)> FindAsync(
        Npgsql.NpgsqlConnection conn, string path, Caller caller, CancellationToken ct)
    {
        var rows = await MetadataStore.DirectoryValuesAsync(conn, null, [path], ct);
        if (rows.Count == 0 || rows[0].Kind != DatasetStore.DatasetKind
            || !await Access.CanSeeAsync(conn, null, caller, (await DirectoryStore.GetAsync(conn, null, path, ct))!, ct))
            throw CatalogException.NotFound($"dataset '{path}'", "path");
        return (rows[0], (await DatasetStore.GetAsync(conn, null, rows[0].Id, ct))!);
    }

    internal static JsonObject? Parse(string? json) => json is null ? null : JsonNode.Parse(json)!.AsObject();
}
