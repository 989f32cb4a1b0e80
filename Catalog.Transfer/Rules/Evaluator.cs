using System.Runtime.CompilerServices;
using Catalog.Client;
using Catalog.Contracts;
using Dapper;
using Npgsql;
using NpgsqlTypes;

namespace Catalog.Transfer.Rules;

/// <summary>
/// Turns a rule into locks and transfer requests, in bulk: the rule's files come from the catalog
/// (a query stream for datasets, prefixes and metadata queries, the member datasets for a
/// collection), their replicas from bulk lookups, and each batch of 10,000 files is written with
/// COPY and set-based inserts in one transaction. Every insert is idempotent (a lock or a live
/// transfer per key at most), so evaluating again, or the feed adding a file the evaluation also
/// saw, changes nothing twice.
/// </summary>
public sealed class Evaluator(NpgsqlDataSource db, CatalogClient catalog, ILogger<Evaluator> log)
{
    public const int Batch = 10_000;

    /// <summary>Serializes lock creation against the reaper's choice of what to delete (rucio #1578): both take it per transaction.</summary>
    public const long LocksLockId = 0x6c6f636b73; // "locks"

    /// <summary>Evaluates a rule over everything it covers now; answers the files seen.</summary>
    public async Task<long> EvaluateAsync(RuleRow rule, CancellationToken ct)
    {
        // Reading the catalog and writing locks overlap: the next batch is read while this one is written.
        var batches = System.Threading.Channels.Channel.CreateBounded<List<LookupResult>>(2);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var reader = Task.Run(async () =>
        {
            try
            {
                await foreach (var batch in FilesAsync(rule, stop.Token).Chunk(Batch).WithCancellation(stop.Token))
                    await batches.Writer.WriteAsync(await LookupAsync(batch, stop.Token), stop.Token);
                batches.Writer.Complete();
            }
            catch (Exception e) { batches.Writer.Complete(e); }
        }, stop.Token);
        long files = 0;
        try
        {
            await foreach (var found in batches.Reader.ReadAllAsync(ct))
                files += await ApplyAsync(rule, found, ct);
        }
        catch (RuleRemovedException)
        {
            log.LogInformation("Rule {Rule} was removed while it was evaluated: evaluation stopped after {Files} files", rule.Id, files);
            stop.Cancel();
            try { await reader; } catch (OperationCanceledException) { }
            return files;
        }
        await reader;
        log.LogInformation("Rule {Rule} evaluated over {Files} files", rule.Id, files);
        return files;
    }

    /// <summary>The catalog's answer (size, checksum, every replica in any state) for LFNs.</summary>
    public async Task<List<LookupResult>> LookupAsync(IReadOnlyCollection<string> lfns, CancellationToken ct)
    {
        var found = new List<LookupResult>(lfns.Count);
        await foreach (var r in catalog.LookupAsync(lfns, all: true, ct))
            if (r.Error is null && r.Lfn is not null && r.Size is not null && r.Adler32 is not null) found.Add(r);
        return found;
    }

    private async IAsyncEnumerable<string> FilesAsync(RuleRow rule, [EnumeratorCancellation] CancellationToken ct)
    {
        IEnumerable<(string? Query, string Under)> queries = rule.Kind switch
        {
            SelectorKind.Query => [(rule.Selector, rule.Under ?? "/")],
            SelectorKind.Collection => rule.Members!.Select(m => ((string?)null, m)),
            _ => [(null, rule.Selector)],
        };
        // Every file under a path: the query language has no empty query, and every size is at least 0.
        foreach (var (query, under) in queries)
            await foreach (var row in catalog.QueryAllAsync(new QueryRequest(query ?? "size >= 0", under, Limit: 10_000), ct))
                yield return row.Path;
    }

    /// <summary>
    /// Locks and transfer requests for one batch of files. Per file, the rule's copies go first to
    /// target SEs that hold an available replica (locked OK at once), then to SEs another rule
    /// already locks the file on (one copy serves both), then to the others in an order hashed from
    /// the LFN (files spread evenly over equal SEs, and the choice is the same every time).
    /// </summary>
    public async Task<int> ApplyAsync(RuleRow rule, IReadOnlyList<LookupResult> files, CancellationToken ct)
    {
        if (files.Count == 0) return 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var phases = new List<double>();
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("select pg_advisory_xact_lock(@LocksLockId)", new { LocksLockId }, tx, cancellationToken: ct));
        // Locks carry no foreign key (schema 003): a rule removed while it was being evaluated is seen
        // here, by a statement that starts after the lock is held, and gets no locks.
        if (!await conn.ExecuteScalarAsync<bool>(new CommandDefinition("select exists (select 1 from rule where id = @id)", new { id = rule.Id }, tx, cancellationToken: ct)))
            throw new RuleRemovedException(rule.Id);
        // The LFN index is probed once per file: the files already known with the locks other rules
        // hold on them, then the new ones inserted with their ids returned; everything after goes by id.
        // (Joining by LFN in each statement probed it four times per file: 50 s for 1,000,000 files.)
        var lfns = files.Select(f => f.Lfn!).ToArray();
        var ids = new Dictionary<string, long>(files.Count, StringComparer.Ordinal);
        var held = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (lfn, id, se) in await conn.QueryAsync<(string, long, string?)>(new CommandDefinition("""
            select f.lfn, f.id, l.se from unnest(@lfns::text[]) as w(lfn) join file f on f.lfn = w.lfn
            left join lock l on l.file_id = f.id and l.rule_id <> @id
            """, new { lfns, id = rule.Id }, tx, cancellationToken: ct)))
        {
            ids[lfn] = id;
            if (se is not null) (held.TryGetValue(lfn, out var list) ? list : held[lfn] = []).Add(se);
        }
        phases.Add(clock.Elapsed.TotalMilliseconds);
        var missing = files.Where(f => !ids.ContainsKey(f.Lfn!)).ToList();
        if (missing.Count > 0)
        {
            foreach (var (lfn, id) in await conn.QueryAsync<(string, long)>(new CommandDefinition("""
                insert into file (lfn, size, adler32)
                select * from unnest(@lfns::text[], @sizes::bigint[], @adlers::text[]) order by 1
                on conflict (lfn) do nothing
                returning lfn, id
                """, new { lfns = missing.Select(f => f.Lfn!).ToArray(), sizes = missing.Select(f => f.Size!.Value).ToArray(),
                    adlers = missing.Select(f => f.Adler32!).ToArray() }, tx, cancellationToken: ct)))
                ids[lfn] = id;
        }

        phases.Add(clock.Elapsed.TotalMilliseconds);
        await conn.ExecuteAsync(new CommandDefinition("""
            create temp table if not exists eval_lock (file_id bigint, se text, state smallint) on commit delete rows;
            """, transaction: tx, cancellationToken: ct));
        await using (var copy = await conn.BeginBinaryImportAsync("copy eval_lock (file_id, se, state) from stdin (format binary)", ct))
        {
            foreach (var f in files)
            {
                foreach (var (se, there) in Choose(rule, f, held.GetValueOrDefault(f.Lfn!) ?? []))
                {
                    await copy.StartRowAsync(ct);
                    await copy.WriteAsync(ids[f.Lfn!], NpgsqlDbType.Bigint, ct);
                    await copy.WriteAsync(se, NpgsqlDbType.Text, ct);
                    await copy.WriteAsync((short)(there ? LockState.Ok : LockState.Replicating), NpgsqlDbType.Smallint, ct);
                }
            }
            await copy.CompleteAsync(ct);
        }
        phases.Add(clock.Elapsed.TotalMilliseconds);
        await conn.ExecuteAsync(new CommandDefinition("""
            insert into lock (rule_id, file_id, se, state)
            select @id, e.file_id, e.se, e.state from eval_lock e
            order by 1, 2, 3
            on conflict (rule_id, file_id, se) do nothing;
            -- A replica about to be deleted is needed again: the deletion is called off.
            delete from deletion d using eval_lock e where d.file_id = e.file_id and d.se = e.se and d.state = 0;
            -- One live transfer per file and destination, whichever rule asked first.
            insert into transfer (file_id, destination, state, priority)
            select e.file_id, e.se, 0, @priority from eval_lock e
            where e.state = 1
            order by 1, 2
            on conflict (file_id, destination) where state in (0, 1, 3) do nothing;
            -- A lock of this batch on a replica whose transfer is stuck is stuck too.
            update lock l set state = 2 from eval_lock e join transfer t on t.file_id = e.file_id and t.destination = e.se and t.state = 3
            where e.state = 1 and l.rule_id = @id and l.file_id = e.file_id and l.se = e.se and l.state = 1;
            """, new { id = rule.Id, priority = rule.Priority }, tx, cancellationToken: ct));
        phases.Add(clock.Elapsed.TotalMilliseconds);
        await RuleStore.RefreshStatesAsync(conn, tx, [rule.Id], ct);
        phases.Add(clock.Elapsed.TotalMilliseconds);
        await tx.CommitAsync(ct);
        phases.Add(clock.Elapsed.TotalMilliseconds);
        // Where a batch's time goes (1,000,000 files, 10,000 a batch: about 20 ms finding known files,
        // 100 inserting new ones, 20 copying locks in, 130 inserting them, 5 the rest).
        log.LogDebug("Rule {Rule}: {Files} files in {Total:F0} ms (known {Known:F0}, new files {New:F0}, lock copy {Copy:F0}, locks and requests {Locks:F0}, state {State:F0}, commit {Commit:F0})",
            rule.Id, files.Count, phases[^1], phases[0], phases[1] - phases[0], phases[2] - phases[1], phases[3] - phases[2], phases[4] - phases[3], phases[5] - phases[4]);
        return files.Count;
    }

    private static IEnumerable<(string Se, bool There)> Choose(RuleRow rule, LookupResult file, IEnumerable<string> heldElsewhere)
    {
        var available = (file.Replicas ?? []).Where(r => r.State == ReplicaState.Available).Select(r => r.Se).ToHashSet(StringComparer.Ordinal);
        var held = heldElsewhere.ToHashSet(StringComparer.Ordinal);
        return rule.Targets
            .OrderBy(se => available.Contains(se) ? 0 : held.Contains(se) ? 1 : 2)
            .ThenBy(se => Spread(file.Lfn!, se))
            .Take(rule.Copies)
            .Select(se => (se, available.Contains(se)));
    }

    /// <summary>FNV-1a over the LFN and the SE name: stable across processes (string hashes are not).</summary>
    private static ulong Spread(string lfn, string se)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in lfn) hash = (hash ^ c) * 1099511628211UL;
        hash = (hash ^ '\n') * 1099511628211UL;
        foreach (var c in se) hash = (hash ^ c) * 1099511628211UL;
        return hash;
    }
}

/// <summary>The rule being evaluated was removed meanwhile: its evaluation stops and writes nothing more.</summary>
public sealed class RuleRemovedException(long id) : Exception($"rule {id} was removed");
