using Catalog.Api.Errors;
using Catalog.Api.Infrastructure;
using Catalog.Api.Namespace;
using Catalog.Contracts;
using Catalog.Storage;
using Microsoft.Extensions.Options;

namespace Catalog.Api.Files;

/// <summary>Reads of single files: by LFN with replicas, and GUID to LFN.</summary>
public sealed class FileService(Db db, IOptions<CatalogOptions> options)
{
    public async Task<Contracts.FileInfo> GetAsync(string? lfn, CancellationToken ct)
    {
        var path = Lfn.Parse(lfn, options.Value.Roots);
        await using var conn = await db.OpenAsync(ct);
        var file = await NamespaceService.FindFileAsync(conn, null, path, ct)
            ?? throw CatalogException.NotFound($"file '{path.Path}'", "lfn");
        var replicas = await ReplicaStore.ForFilesAsync(conn, null, [file.Id], ct);
        return Mapping.ToFileInfo(file, path.Path, replicas.Select(Mapping.ToReplica).ToList());
    }

    public async Task<GuidLookup> ByGuidAsync(Guid guid, CancellationToken ct)
    {
        await using var conn = await db.OpenAsync(ct);
        var found = await FileStore.GetByGuidsAsync(conn, null, [guid], ct);
        return found.Count == 0
            ? throw CatalogException.NotFound($"file with guid {guid}", "guid")
            : new GuidLookup(guid, found[0].DirPath + "/" + found[0].Name);
    }
}
