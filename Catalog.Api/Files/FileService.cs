using Catalog.Api.Errors;
using Catalog.Api.Hosting;
using Catalog.Api.Http;
using Catalog.Api.Namespace;
using Catalog.Api.Security;
using Catalog.Contracts;
using Catalog.Storage;
using Microsoft.Extensions.Options;

namespace Catalog.Api.Files;

/// <summary>Reads of single files: by LFN with replicas, and GUID to LFN.</summary>
public sealed class FileService(Db db, IOptions<CatalogOptions> options, Access access, HotCache cache)
{
    public async Task<Contracts.FileInfo> GetAsync(string? lfn, Caller caller, CancellationToken ct)
    {
        var path = Lfn.Parse(lfn, options.Value.Roots);
        access.Demand(caller, Operation.Read, path.Path, "lfn");
        // Served from Redis when it holds the file; the read rule runs per caller either way, on
        // the file's modes and the gates above it, cached with it (a chmod or chown of a directory
        // drops every cached file, DESIGN.md).
        var cached = await cache.GetOrLoadAsync(CacheSpace.File, path.Path, () => LoadAsync(path), ct);
        if (cached is null || !Access.CanSee(caller, new Gates(cached.Gates), path.Parent, cached.File.Owner, cached.File.Group, cached.File.Mode))
            throw CatalogException.NotFound($"file '{path.Path}'", "lfn");
        return cached.File;
    }

    /// <summary>A file's cached entry: the file with its replicas, and the gates above it.</summary>
    public sealed record Cached(Contracts.FileInfo File, IReadOnlyList<GateRow> Gates) : ICacheComposite
    {
        public IEnumerable<object> Parts => [File];
    }

    private async Task<Cached?> LoadAsync(LfnPath path)
    {
        if (path.IsRoot) return null;
        await using var conn = await db.OpenAsync(CancellationToken.None);
        var (file, replicas, gates) = await FileStore.GetWithReplicasAsync(conn, path.Parent, path.Name, CancellationToken.None);
        if (file is null) return null;
        return new Cached(Mapping.ToFileInfo(file, path.Path, replicas.Select(Mapping.ToReplica).ToList()), gates);
    }

    public async Task<GuidLookup> ByGuidAsync(Guid guid, Caller caller, CancellationToken ct)
    {
        access.DemandReader(caller, "look GUIDs up");
        await using var conn = await db.OpenAsync(ct);
        var found = await FileStore.GetByGuidsAsync(conn, null, [guid], ct);
        if (found.Count == 0) throw CatalogException.NotFound($"file with guid {guid}", "guid");
        var lfn = found[0].DirPath + "/" + found[0].Name;
        // Out of scope or out of sight answers like unknown, so GUIDs do not leak where files live.
        if (access.Check(caller, Operation.Read, lfn) is not null
            || !Access.CanSee(caller, await Access.GatesAsync(conn, null, caller, [found[0].DirPath], ct), found[0].DirPath, found[0].Owner, found[0].Grp, found[0].Mode))
            throw CatalogException.NotFound($"file with guid {guid}", "guid");
        return new GuidLookup(guid, lfn);
    }
}
