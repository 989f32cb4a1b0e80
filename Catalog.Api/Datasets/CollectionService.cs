using System.Text.Json.Nodes;
using Catalog.Api.Audit;
using Catalog.Api.Errors;
using Catalog.Api.Hosting;
using Catalog.Api.Http;
using Catalog.Api.Metadata;
using Catalog.Api.Namespace;
using Catalog.Api.Security;
using Catalog.Contracts;
using Catalog.Storage;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Catalog.Api.Datasets;

/// <summary>
/// Collections: immutable named sets of datasets (or other collections) with their own metadata,
/// created whole in one transaction or not at all. Membership is frozen, and members must exist
/// before the collection does, so no collection can contain itself, directly or through another.
/// </summary>
public sealed class CollectionService(Db db, IOptions<CatalogOptions> options, Access access, AuditLog audit, MetadataService metadata, DatasetService datasets)
{
    public const int MaxMembers = 10_000;

    public async Task<CollectionInfo> CreateAsync(CollectionRequest request, Caller caller, CancellationToken ct)
    {
        var path = Lfn.ParseBelowRoot(request.Path, options.Value.Roots, "path");
        access.Demand(caller, Operation.Create, path.Path, "path");
        var members = request.Members ?? throw CatalogException.Invalid("members", "is required");
        if (members.Count is 0 or > MaxMembers) throw new CatalogException(ErrorCode.LimitExceeded, $"members: 1 to {MaxMembers} datasets or collections", "members");
        var memberPaths = new List<string>();
        for (var i = 0; i < members.Count; i++)
        {
            var member = Lfn.Parse(members[i], options.Value.Roots, $"members[{i}]");
            if (member.Path == path.Path) throw CatalogException.Invalid($"members[{i}]", "a collection cannot contain itself");
            access.Demand(caller, Operation.Read, member.Path, $"members[{i}]");
            memberPaths.Add(member.Path);
        }

        await db.WriteAsync(async (conn, tx) =>
        {
            var found = (await MetadataStore.DirectoryValuesAsync(conn, tx, memberPaths.Distinct().ToArray(), ct)).ToDictionary(d => d.Path, StringComparer.Ordinal);
            // A member is pinned for as long as the collection lives (it can no longer be removed):
            // readers and producers may pin only what they may write, and never what they may not see.
            var modes = caller.BypassesModes ? [] : (await DirectoryStore.GetManyAsync(conn, tx, memberPaths.Distinct().ToArray(), ct)).ToDictionary(d => d.Path, StringComparer.Ordinal);
            var gates = await Access.GatesAsync(conn, tx, caller, memberPaths.Distinct(), ct);
            var open = await DatasetStore.OpenAsync(conn, tx, found.Values.Where(m => m.Kind == DatasetStore.DatasetKind).Select(m => m.Id).ToArray(), ct);
            for (var i = 0; i < memberPaths.Count; i++)
            {
                if (!found.TryGetValue(memberPaths[i], out var m) || m.Kind is not (DatasetStore.DatasetKind or DatasetStore.CollectionKind)
                    || (modes.TryGetValue(memberPaths[i], out var d) && !Access.CanSee(caller, gates, d.Path, d.Owner, d.Grp, d.Mode)))
                    throw new CatalogException(ErrorCode.NotFound, $"members[{i}]: '{memberPaths[i]}' is not a dataset or collection", $"members[{i}]");
                if (modes.TryGetValue(memberPaths[i], out d) && access.CheckMode(caller, Operation.Create, d.Owner, d.Grp, d.Mode, d.Path) is not null)
                    throw new CatalogException(ErrorCode.Forbidden,
                        $"members[{i}]: '{caller.Subject}' may not pin '{memberPaths[i]}' in a collection: that needs w on it (it belongs to {d.Owner}) or the data-manager role", $"members[{i}]");
                if (open.Contains(m.Id))
                    throw new CatalogException(ErrorCode.Conflict,
                        $"members[{i}]: dataset '{memberPaths[i]}' is open; close it first (POST /api/v1/datasets/close, catalog dataset close), so the collection's files never change", $"members[{i}]");
            }
            if (await DirectoryStore.GetAsync(conn, tx, path.Path, ct) is not null || await NamespaceService.FindFileAsync(conn, tx, path, ct) is not null)
                throw new CatalogException(ErrorCode.Conflict, $"'{path.Path}' already exists; collections are created once and never changed", "path");
            await DirectoryTree.DemandWritableAsync(conn, tx, [path], caller, access, "path", ct);
            var ids = await DirectoryTree.EnsureAsync(conn, tx, [path], caller.User, null, ct);
            if (!ids.TryGetValue(path.Path, out var id)) throw new CatalogException(ErrorCode.Conflict, $"a file exists at '{path.Path}' or one of its parents", "path");
            await CollectionStore.CreateAsync(conn, tx, id, memberPaths.Select(p => found[p].Id).Distinct().ToArray(), ct);
            // A collection never contains itself through another collection (true by construction; checked anyway).
            var cycle = await CollectionStore.ContainsItselfAsync(conn, tx, id, ct);
            if (cycle) throw CatalogException.Invalid("members", "a collection cannot contain itself, directly or through another collection");
            if (request.Metadata is { Count: > 0 } values)
                await metadata.ApplyDirectoryValuesAsync(conn, tx, path, id, values, "metadata", ct);
            return true;
        }, ct);
        await audit.RecordAsync(caller, "collection.create", path.Path, "created", new() { ["members"] = memberPaths.Count.ToString() });
        return await GetAsync(path.Path, caller, ct);
    }

    public async Task<CollectionInfo> GetAsync(string? path, Caller caller, CancellationToken ct)
    {
        var p = Lfn.Parse(path, options.Value.Roots, "path");
        access.Demand(caller, Operation.Read, p.Path, "path");
        await using var conn = await db.OpenAsync(ct);
        return (await ReadAsync(conn, p.Path, subtree: false, caller, ct)).SingleOrDefault()
            ?? throw CatalogException.NotFound($"collection '{p.Path}'", "path");
    }

    /// <summary>
    /// The totals of the datasets a collection holds, from each dataset's summary (cached, and read
    /// past the cache for a caller from whom part of a dataset is hidden); datasets hidden from the
    /// caller are left out. Datasets are disjoint directories, so their files add up.
    /// </summary>
    public async Task<CollectionSummary> SummaryAsync(string? path, Caller caller, CancellationToken ct)
    {
        var info = await GetAsync(path, caller, ct);
        IEnumerable<string> members;
        await using (var conn = await db.OpenAsync(ct))
            members = (await CollectionStore.ClosureAsync(conn, info.Path, ct)).Where(r => r.Kind == DatasetStore.DatasetKind).Select(r => r.Path).Distinct();
        var parts = new List<DatasetSummary>();
        foreach (var member in members)
        {
            try { parts.Add(await datasets.SummaryAsync(member, caller, ct)); }
            catch (CatalogException e) when (e.Code is ErrorCode.NotFound or ErrorCode.Forbidden) { } // not the caller's to see
        }
        var perSe = parts.SelectMany(p => p.PerStorageElement).GroupBy(u => u.Se, StringComparer.Ordinal)
            .Select(g => new SeUsage(g.Key, g.Sum(u => u.Files), g.Sum(u => u.Bytes))).OrderBy(u => u.Se, StringComparer.Ordinal).ToList();
        var events = parts.Where(p => p.Events is not null).Select(p => p.Events!.Value).ToList();
        return new CollectionSummary(info.Path, parts.Count, parts.Sum(p => p.Files), parts.Sum(p => p.Bytes), events.Count == 0 ? null : events.Sum(),
            parts.Min(p => p.ExperimentLow), parts.Max(p => p.ExperimentHigh), parts.Min(p => p.RunLow), parts.Max(p => p.RunHigh),
            parts.Sum(p => p.Datablocks), perSe, info.Metadata);
    }

    public async Task<IReadOnlyList<CollectionInfo>> ListAsync(string? under, Caller caller, CancellationToken ct)
    {
        var p = Lfn.Parse(under, options.Value.Roots, "under");
        access.Demand(caller, Operation.Read, p.Path, "under");
        await using var conn = await db.OpenAsync(ct);
        return await ReadAsync(conn, p.Path, subtree: true, caller, ct);
    }

    /// <summary>Collections and members the caller may see (members live anywhere: the viewer covers the whole namespace).</summary>
    private async Task<IReadOnlyList<CollectionInfo>> ReadAsync(NpgsqlConnection conn, string path, bool subtree, Caller caller, CancellationToken ct) =>
        (await CollectionStore.ReadAsync(conn, path, subtree, await access.ViewerAsync(conn, null, caller, ["/"], ct), ct)).Select(r => new CollectionInfo(r.Path, r.Members,
            r.Metadata is null ? null : JsonNode.Parse(r.Metadata)!.AsObject(), Mapping.Utc(r.Created))).ToList();

    /// <summary>The datasets a collection holds, through nested collections; null when the path is not a collection.</summary>
    public static async Task<string[]?> ExpandAsync(NpgsqlConnection conn, string path, CancellationToken ct)
    {
        var rows = await CollectionStore.ClosureAsync(conn, path, ct);
        if (rows.Count == 0) return null;
        return rows.Where(r => r.Kind == DatasetStore.DatasetKind).Select(r => r.Path).Distinct().Order(StringComparer.Ordinal).DefaultIfEmpty(path + "/\u0001none").ToArray();
    }
}
