using Catalog.Api.Namespace;
using Catalog.Storage;

namespace Catalog.Api.Infrastructure;

/// <summary>What a write to files makes stale in the cache (see DESIGN.md, "Redis cache of hot reads").</summary>
public static class CacheWrites
{
    /// <summary>
    /// Files whose entries changed (replicas, metadata, ownership, place): their cached entries and
    /// the summaries of every directory above them. Call after the commit, before the answer.
    /// </summary>
    public static async Task FilesChangedAsync(this HotCache cache, IReadOnlyCollection<string> lfns)
    {
        await cache.InvalidateAsync(CacheSpace.File, lfns);
        await cache.InvalidateAsync(CacheSpace.Dataset, Lfn.Holders(lfns));
    }
}
