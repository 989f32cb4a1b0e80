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
        // Served from Redis when it holds the file; the mode check runs per caller either way.
        var file = await cache.GetOrLoadAsync(CacheSpace.File, path.Path, () => LoadAsync(path), ct)
            ?? throw CatalogException.NotFound($"file '{path.Path}'", "lfn");
        access.DemandMode(caller, Operation.Read, file.Owner, file.Group, file.Mode, path.Path, "lfn");
        return file;
    }

    private async Task<Contracts.FileInfo?> LoadAsync(LfnPath path)
    {
        if (path.IsRoot) return null;
        await using var conn = await db.OpenAsync(CancellationToken.None);
        var (file, replicas) = await FileStore.GetWithReplicasAsync(conn, path.Parent, path.Name, CancellationToken.None);
        return file is null ? null : Mapping.ToFileInfo(file, path.Path, replicas.Select(Mapping.ToReplica).ToList());
    }

    public async Task<GuidLookup> ByGuidAsync(Guid guid, Caller caller, CancellationToken ct)
    {
        access.DemandReader(caller, "look GUIDs up");
        await using var conn = await db.OpenAsync(ct);
        var found = await FileStore.GetByGuidsAsync(conn, null, [guid], ct);
        if (found.Count == 0) throw CatalogException.NotFound($"file with guid {guid}", "guid");
        var lfn = found[0].DirPath + "/" + found[0].Name;
        // Out of scope answers like unknown, so GUIDs do not leak where files live.
        if (access.Check(caller, Operation.Read, lfn) is not null) throw CatalogException.NotFound($"file with guid {guid}", "guid");
        return new GuidLookup(guid, lfn);
    }
}
