using Catalog.Client;
using Catalog.Contracts;
using Catalog.Grid;
using Catalog.Transfer.Rules;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Catalog.Transfer.Deletion;

/// <summary>
/// Removes expired rules, and deletes replicas no lock holds any more: from the catalog first (so
/// nobody picks it as a source while it goes), then from the SE. Never a file's last available
/// replica, never one a lock holds: the deletion is marked under the same lock rule evaluation
/// takes, and a lock made meanwhile calls it off.
/// </summary>
public sealed class Reaper(NpgsqlDataSource db, CatalogClient catalog, RuleService rules, IOptions<TransferOptions> options, ILogger<Reaper> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ExpireAsync(stoppingToken);
                while (await DeleteSomeAsync(stoppingToken) > 0) { }
            }
            catch (Exception e) when (e is NpgsqlException or HttpRequestException or TimeoutException or CatalogClientException)
            {
                log.LogWarning(e, "Reaping failed; trying again");
            }
            await Task.Delay(options.Value.PollInterval * 2, stoppingToken);
        }
    }

    private async Task ExpireAsync(CancellationToken ct)
    {
        List<long> expired;
        await using (var conn = await db.OpenConnectionAsync(ct))
            expired = (await conn.QueryAsync<long>(new CommandDefinition("select id from rule where expires_at < now()", cancellationToken: ct))).AsList();
        foreach (var id in expired) await rules.RemoveAsync(id, "expired", ct);
    }

    /// <summary>One batch of pending deletions; answers how many were settled.</summary>
    public async Task<int> DeleteSomeAsync(CancellationToken ct)
    {
        List<(long FileId, string Lfn, string Se)> marked;
        await using (var conn = await db.OpenConnectionAsync(ct))
        await using (var tx = await conn.BeginTransactionAsync(ct))
        {
            await conn.ExecuteAsync(new CommandDefinition("select pg_advisory_xact_lock(@id)", new { id = Evaluator.LocksLockId }, tx, cancellationToken: ct));
            await conn.ExecuteAsync(new CommandDefinition("""
                delete from deletion d where exists (select 1 from lock l where l.file_id = d.file_id and l.se = d.se)
                """, transaction: tx, cancellationToken: ct));
            marked = (await conn.QueryAsync<(long, string, string)>(new CommandDefinition("""
                update deletion d set state = 1 from file f
                where f.id = d.file_id and (d.file_id, d.se) in (select file_id, se from deletion order by created limit 200)
                returning d.file_id, f.lfn, d.se
                """, transaction: tx, cancellationToken: ct))).AsList();
            await tx.CommitAsync(ct);
        }
        if (marked.Count == 0) return 0;

        var replicas = new Dictionary<string, IReadOnlyList<Replica>>(StringComparer.Ordinal);
        await foreach (var r in catalog.LookupAsync(marked.Select(m => m.Lfn).Distinct(), all: true, ct))
            if (r.Lfn is not null) replicas[r.Lfn] = r.Replicas ?? [];
        // Decide the whole batch first (a replica counted gone before the next one of the same file is
        // looked at), then one catalog call removes them all, then each goes from its SE.
        var doomed = new List<(long FileId, string Lfn, string Se, string Pfn)>();
        var settled = new List<(long FileId, string Se)>();
        foreach (var (fileId, lfn, se) in marked)
        {
            var all = replicas.GetValueOrDefault(lfn) ?? [];
            var target = all.FirstOrDefault(r => r.Se == se);
            if (target is null) settled.Add((fileId, se));
            else if (!all.Any(r => r.Se != se && r.State == ReplicaState.Available))
            {
                log.LogWarning("Kept {Lfn} on {Se}: no rule needs it, but it is the file's last available replica", lfn, se);
                settled.Add((fileId, se));
            }
            else
            {
                doomed.Add((fileId, lfn, se, target.Pfn));
                replicas[lfn] = all.Where(r => r.Se != se).ToList();
            }
        }
        if (doomed.Count > 0)
        {
            var removed = (await catalog.RemoveReplicasAsync(doomed.Select(d => new ReplicaRef(d.Lfn, d.Se)), ct)).Results.ToDictionary(r => r.Index);
            for (var i = 0; i < doomed.Count; i++)
            {
                var (fileId, lfn, se, pfn) = doomed[i];
                // A refusal leaves the deletion for the next round.
                if (removed[i].Error is { } error) { log.LogWarning("The catalog kept {Lfn} on {Se}: {Error}", lfn, se, error.Message); continue; }
                if (!await Xrootd.RemoveAsync(pfn, ct))
                    log.LogWarning("Removed {Lfn} on {Se} from the catalog, but the SE did not delete {Pfn}: a dark file for the consistency check", lfn, se, pfn);
                settled.Add((fileId, se));
            }
        }
        await using (var conn = await db.OpenConnectionAsync(ct))
            await conn.ExecuteAsync(new CommandDefinition("""
                delete from deletion d using unnest(@fileIds::bigint[], @ses::text[]) as w(file_id, se) where d.file_id = w.file_id and d.se = w.se
                """, new { fileIds = settled.Select(x => x.FileId).ToArray(), ses = settled.Select(x => x.Se).ToArray() }, cancellationToken: ct));
        return marked.Count;
    }
}
