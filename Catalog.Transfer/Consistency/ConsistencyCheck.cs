using System.Diagnostics;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Grid;
using Catalog.Modules;
using Dapper;
using Npgsql;

namespace Catalog.Transfer.Consistency;

/// <summary>
/// Compares an SE's namespace (its recursive listing, with sizes) with the catalog's replicas on
/// it (the catalog's streamed dump): dark files are on the SE only, lost replicas are in the
/// catalog only or with another size there, or (when asked, for all or a sample) another Adler-32
/// by the SE's own checksum. Replicas being copied and the destinations of copies
/// in flight are neither. A repair marks lost replicas bad in the catalog (the feed then has rules
/// that need them copied again from another replica) and deletes dark files older than the grace
/// period.
/// </summary>
public sealed class ConsistencyCheck(NpgsqlDataSource db, CatalogClient catalog, ILogger<ConsistencyCheck> log)
{
    public async Task<ConsistencyReport> RunAsync(string seName, ConsistencyRequest request, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var started = DateTimeOffset.UtcNow;
        if (request.DarkGraceSeconds is < 0) throw ServiceException.Invalid("darkGraceSeconds", "must not be negative");
        if (request.ChecksumSample is < 1) throw ServiceException.Invalid("checksumSample", "must be at least 1 (or left out to compare every file)");
        var grace = TimeSpan.FromSeconds(request.DarkGraceSeconds ?? 86_400);
        var se = (await catalog.ListStorageElementsAsync(ct)).FirstOrDefault(s => s.Name == seName)
            ?? throw new ServiceException(ErrorCode.NotFound, $"storage element '{seName}' is not registered in the catalog", "se");
        var (server, root) = Xrootd.Split(se.BaseUrl.TrimEnd('/') + "/");

        // Both sides at once: the SE's listing and the catalog's dump.
        var listing = Xrootd.ListAsync(server, root, ct);
        var catalogSide = new Dictionary<string, SeReplica>(StringComparer.Ordinal);
        await foreach (var r in catalog.DumpStorageElementAsync(seName, ct))
            catalogSide[PathOf(r.Pfn ?? Xrootd.Pfn(se.BaseUrl, r.Lfn))] = r;
        var onSe = await listing ?? throw new ServiceException(ErrorCode.Overloaded, $"the SE {seName} did not answer its listing; try again later", "se");

        HashSet<string> inFlight;
        await using (var conn = await db.OpenConnectionAsync(ct))
            inFlight = (await conn.QueryAsync<string>(new CommandDefinition(
                "select f.lfn from transfer t join file f on f.id = t.file_id where t.state = 1 and t.destination = @seName",
                new { seName }, cancellationToken: ct))).Select(l => PathOf(Xrootd.Pfn(se.BaseUrl, l))).ToHashSet(StringComparer.Ordinal);

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var dark = new List<(string Path, DateTime Modified)>();
        var lost = new List<LostReplica>();
        var sameSize = new List<(string Path, SeReplica Replica)>();
        foreach (var (path, size, modified) in onSe)
        {
            seen.Add(path);
            if (catalogSide.TryGetValue(path, out var r))
            {
                if (r.State == ReplicaState.BeingCopied) continue;
                if (r.Size != size) lost.Add(new LostReplica(r.Lfn, $"size {size} on the SE, the catalog says {r.Size}"));
                else sameSize.Add((path, r));
            }
            else if (!inFlight.Contains(path)) dark.Add((path, modified));
        }
        var (compared, unreadable) = request.Checksums || request.ChecksumSample is not null
            ? await CompareChecksumsAsync(server, sameSize, request.ChecksumSample, lost, ct)
            : (0L, 0L);
        foreach (var (path, r) in catalogSide)
            if (!seen.Contains(path) && r.State is ReplicaState.Available or ReplicaState.Unavailable)
                lost.Add(new LostReplica(r.Lfn, "missing on the SE"));

        long darkDeleted = 0, markedBad = 0, requeued = 0;
        if (request.Repair)
        {
            foreach (var (path, modified) in dark.Where(d => DateTime.UtcNow - d.Modified > grace))
                if (await Xrootd.RemoveAsync(server + "/" + path, ct)) darkDeleted++;
            foreach (var chunk in lost.Chunk(1000))
            {
                var result = await catalog.SetReplicaStateAsync(chunk.Select(l => new ReplicaRef(l.Lfn, seName, State: ReplicaState.Bad)), ct);
                markedBad += result.Results.Count(r => r.Error is null);
            }
            await using var conn = await db.OpenConnectionAsync(ct);
            requeued = await conn.ExecuteScalarAsync<long>(new CommandDefinition("""
                select count(distinct l.file_id) from lock l join file f on f.id = l.file_id where l.se = @seName and f.lfn = any(@lfns)
                """, new { seName, lfns = lost.Select(l => l.Lfn).ToArray() }, cancellationToken: ct));
            log.LogInformation("Consistency repair of {Se}: {Dark} dark files deleted, {Bad} lost replicas marked bad, {Requeued} to copy again", seName, darkDeleted, markedBad, requeued);
        }
        return new ConsistencyReport(seName, started, clock.Elapsed.TotalSeconds, onSe.Count, catalogSide.Count,
            dark.Select(d => d.Path).Order(StringComparer.Ordinal).Take(1000).ToList(), lost.OrderBy(l => l.Lfn, StringComparer.Ordinal).Take(1000).ToList(),
            darkDeleted, markedBad, requeued, compared, unreadable);
    }

    /// <summary>Concurrent SE checksum queries at once; the SE reads each file to answer.</summary>
    private const int ChecksumParallelism = 16;

    /// <summary>
    /// Asks the SE for the Adler-32 of each file (or of a random sample) and adds those that differ
    /// from the catalog's to <paramref name="lost"/>. A checksum the SE does not give is counted, not
    /// taken for a loss: a busy SE must not get good replicas marked bad.
    /// </summary>
    private async Task<(long Compared, long Unreadable)> CompareChecksumsAsync(string server, List<(string Path, SeReplica Replica)> files, int? sample,
        List<LostReplica> lost, CancellationToken ct)
    {
        var chosen = sample is { } n && n < files.Count ? files.OrderBy(_ => Random.Shared.Next()).Take(n).ToList() : files;
        long compared = 0, unreadable = 0;
        var mismatched = new System.Collections.Concurrent.ConcurrentBag<LostReplica>();
        await Parallel.ForEachAsync(chosen, new ParallelOptions { MaxDegreeOfParallelism = ChecksumParallelism, CancellationToken = ct }, async (f, token) =>
        {
            var onSe = await Xrootd.ChecksumAsync(server + "/" + f.Path, token);
            if (onSe is null || !uint.TryParse(onSe, System.Globalization.NumberStyles.HexNumber, null, out var seValue))
            {
                Interlocked.Increment(ref unreadable);
                return;
            }
            Interlocked.Increment(ref compared);
            if (!uint.TryParse(f.Replica.Adler32, System.Globalization.NumberStyles.HexNumber, null, out var catalogValue) || seValue != catalogValue)
                mismatched.Add(new LostReplica(f.Replica.Lfn, $"Adler-32 {onSe} on the SE, the catalog says {f.Replica.Adler32}"));
        });
        lost.AddRange(mismatched);
        if (unreadable > 0) log.LogWarning("Consistency check: the SE gave no checksum for {Count} files; they were not compared", unreadable);
        return (compared, unreadable);
    }

    /// <summary>The path part of a PFN, as the SE's listing names it.</summary>
    private static string PathOf(string pfn) => "/" + Xrootd.Split(pfn).Path.TrimStart('/');
}
