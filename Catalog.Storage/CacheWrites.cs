namespace Catalog.Storage;

/// <summary>
/// What a write makes stale in the cache, beside the cache itself (DESIGN.md, "Redis cache of hot
/// reads"). Every rule runs after the commit and before the answer.
/// </summary>
public static class CacheWrites
{
    /// <summary>
    /// Files whose entries changed (replicas, metadata, ownership, place): their cached entries and
    /// the summaries of every directory above them.
    /// </summary>
    public static async Task FilesChangedAsync(this HotCache cache, IReadOnlyCollection<string> lfns)
    {
        await cache.InvalidateAsync(CacheSpace.File, lfns);
        await cache.InvalidateAsync(CacheSpace.Dataset, Holders(lfns));
    }

    /// <summary>
    /// A registration: the summaries above every stored file, and the cached entries of existing
    /// files that gained replicas (a new file was never cached, so it has nothing to drop).
    /// </summary>
    public static async Task FilesRegisteredAsync(this HotCache cache, IReadOnlyCollection<string> stored, IReadOnlyCollection<string> gainedReplicas)
    {
        await cache.InvalidateAsync(CacheSpace.File, gainedReplicas);
        await cache.InvalidateAsync(CacheSpace.Dataset, Holders(stored));
    }

    /// <summary>Every directory above the given LFNs (a dataset summary is cached under its LPN).</summary>
    private static IEnumerable<string> Holders(IEnumerable<string> lfns)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var lfn in lfns)
            for (var cut = lfn.LastIndexOf('/'); cut > 0 && seen.Add(lfn[..cut]); cut = lfn.LastIndexOf('/', cut - 1))
                yield return lfn[..cut];
    }
}
