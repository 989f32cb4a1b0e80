using System.Runtime.CompilerServices;
using Catalog.Client;
using Catalog.Contracts;
using Dapper;
using Npgsql;
using NpgsqlTypes;

namespace Catalog.Transfer.Rules;

/// <summary>
/// Turns a rule into locks and transfer requests, in bulk: the rule's files come from the catalog
/// in one query stream (over the dataset, prefix or query, or each member dataset of a collection)
/// that carries each file's size, checksum and replicas with their states, and each batch of
/// 10,000 files is written in one transaction: new files, their locks and requests by COPY, files
/// seen before with idempotent set-based inserts (a lock or a live transfer per key at most), so
/// evaluating again, or the feed adding a file the evaluation also saw, changes nothing twice.
/// </summary>
public sealed class Evaluator(NpgsqlDataSource db, CatalogClient catalog, ILogger<Evaluator> log)
{
    public const int Batch = 10_000;

    /// <summary>Serializes lock creation against the reaper's choice of what to delete (rucio #1578): both take it per transaction.</summary>
    public const long LocksLockId = 0x6c6f636b73; // "locks"

    /// <summary>
    /// Evaluates a rule over everything it covers now, or over the files under <paramref name="under"/>
    /// only (a directory moved into what the rule covers); answers the files seen.
    /// </summary>
    public async Task<long> EvaluateAsync(RuleRow rule, CancellationToken ct, string? under = null)
    {
        // Reading the catalog and writing locks overlap: the next batch is read while this one is written.
        var batches = System.Threading.Channels.Channel.CreateBounded<List<RuleFile>>(2);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var reader = Task.Run(async () =>
        {
            try
            {
                await foreach (var batch in FilesAsync(rule, under, stop.Token).Chunk(Batch).WithCancellation(stop.Token))
                    await batches.Writer.WriteAsync(batch.ToList(), stop.Token);
                batches.Writer.Complete();
            }
            catch (Exception e) { batches.Writer.Complete(e); }
        }, stop.Token);
        long files = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var waiting = TimeSpan.Zero; // for the catalog's next batch: what the evaluation's time is bound by, reading or writing
        try
        {
            while (true)
            {
                var asked = clock.Elapsed;
                if (!await batches.Reader.WaitToReadAsync(ct)) break;
                waiting += clock.Elapsed - asked;
                while (batches.Reader.TryRead(out var found)) files += await ApplyAsync(rule, found, ct);
            }
        }
        catch (RuleRemovedException)
        {
            log.LogInformation("Rule {Rule} was removed while it was evaluated: evaluation stopped after {Files} files", rule.Id, files);
            stop.Cancel();
            try { await reader; } catch (OperationCanceledException) { }
            return files;
        }
        catch
        {
            stop.Cancel(); // the reader may wait on a full channel no one reads any more
            throw;
        }
        await reader;
        log.LogInformation("Rule {Rule} evaluated over {Files} files in {Seconds:F1} s, {Waiting:F1} s of them waiting for the catalog's next batch",
            rule.Id, files, clock.Elapsed.TotalSeconds, waiting.TotalSeconds);
        return files;
    }

    /// <summary>The catalog's answer (size, checksum, the SEs with an available replica) for LFNs.</summary>
    public async Task<List<RuleFile>> LookupAsync(IReadOnlyCollection<string> lfns, CancellationToken ct)
    {
        var found = new List<RuleFile>(lfns.Count);
        await foreach (var r in catalog.LookupAsync(lfns, all: true, ct))
            if (r is { Error: null, Lfn: { } lfn, Size: { } size, Adler32: { } adler32 })
                found.Add(new RuleFile(lfn, size, adler32, (r.Replicas ?? []).Where(x => x.State == ReplicaState.Available).Select(x => x.Se).ToArray()));
        return found;
    }

    private async IAsyncEnumerable<RuleFile> FilesAsync(RuleRow rule, string? under, [EnumeratorCancellation] CancellationToken ct)
    {
        IEnumerable<(string? Query, string Under)> queries = under is not null ? [(rule.Kind == SelectorKind.Query ? rule.Selector : null, under)] : rule.Kind switch
        {
            SelectorKind.Query => [(rule.Selector, rule.Under ?? "/")],
            SelectorKind.Collection => rule.Members!.Select(m => ((string?)null, m)),
            _ => [(null, rule.Selector)],
        };
        // Every file under a path (the query language has no empty query, and every size is at
        // least 0), with its size, checksum and replicas in the same stream.
        foreach (var (query, path) in queries)
            await foreach (var row in catalog.QueryReplicasAsync(new QueryRequest(query ?? "size >= 0", path, Limit: 10_000), ct))
                yield return new RuleFile(row.Path, row.Attributes.Size, row.Attributes.Adler32, Available(row.Attributes.Replicas));
    }

    private static string[] Available(IReadOnlyDictionary<string, ReplicaState> replicas)
    {
        var available = new List<string>(replicas.Count);
        foreach (var (se, state) in replicas)
            if (state == ReplicaState.Available) available.Add(se);
        return available.ToArray();
    }

    /// <summary>
    /// Locks and transfer requests for one batch of files. Per file, the rule's copies go first to
    /// target SEs that hold an available replica (locked OK at once), then to SEs another rule
    /// already locks the file on (one copy serves both), then to the others in an order hashed from
    /// the LFN (files spread evenly over equal SEs, and the choice is the same every time).
    /// </summary>
    public async Task<int> ApplyAsync(RuleRow rule, IReadOnlyList<RuleFile> files, CancellationToken ct)
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

        // Files the service has not seen yet are inserted first: under the locks lock such a file
        // has no lock, no request and no deletion, so its locks and requests are copied straight
        // into their tables. Only the files already known (a second rule, the feed and an
        // evaluation meeting) go through the checks against what is there.
        var (fresh, known) = await NewFilesAsync(conn, tx, files, ct);
        phases.Add(clock.Elapsed.TotalMilliseconds);

        var chosen = new List<(string Se, bool There)>(rule.Targets.Length);
        if (fresh.Count > 0)
        {
            var requests = new List<(long Id, string Se)>();
            await using (var copy = await conn.BeginBinaryImportAsync("copy lock (rule_id, file_id, se, state) from stdin (format binary)", ct))
            {
                foreach (var (id, f) in fresh)
                {
                    Choose(rule, f, null, chosen);
                    foreach (var (se, there) in chosen)
                    {
                        await WriteLockAsync(copy, rule.Id, id, se, there, ct);
                        if (!there) requests.Add((id, se));
                    }
                }
                await copy.CompleteAsync(ct);
            }
            if (requests.Count > 0)
            {
                await using var copy = await conn.BeginBinaryImportAsync("copy transfer (file_id, destination, state, priority) from stdin (format binary)", ct);
                foreach (var (id, se) in requests)
                {
                    await copy.StartRowAsync(ct);
                    await copy.WriteAsync(id, NpgsqlDbType.Bigint, ct);
                    await copy.WriteAsync(se, NpgsqlDbType.Text, ct);
                    await copy.WriteAsync((short)TransferState.Queued, NpgsqlDbType.Smallint, ct);
                    await copy.WriteAsync(rule.Priority, NpgsqlDbType.Smallint, ct);
                }
                await copy.CompleteAsync(ct);
            }
        }
        phases.Add(clock.Elapsed.TotalMilliseconds);
        if (known.Count > 0) await ApplyKnownAsync(conn, tx, rule, known, chosen, ct);
        phases.Add(clock.Elapsed.TotalMilliseconds);
        await RuleStore.RefreshStatesAsync(conn, tx, [rule.Id], ct);
        await tx.CommitAsync(ct);
        phases.Add(clock.Elapsed.TotalMilliseconds);
        // Where a batch's time goes (debug log): inserting the new files, copying their locks and
        // requests in, checking the known files against what is there, state and commit.
        log.LogDebug("Rule {Rule}: {Files} files ({Fresh} new) in {Total:F0} ms (new files {New:F0}, their locks {Locks:F0}, known files {Known:F0}, state and commit {Commit:F0})",
            rule.Id, files.Count, fresh.Count, phases[^1], phases[0], phases[1] - phases[0], phases[2] - phases[1], phases[3] - phases[2]);
        return files.Count;
    }

    /// <summary>
    /// Inserts the files of a batch the service has not seen, answering them with their new ids,
    /// and the files it knew. The batch is copied in (binary COPY, ids drawn from the sequence in
    /// one block), which costs half of an insert that checks every LFN for a conflict. A copy that
    /// meets a known LFN (another rule's file, one the feed took first, or one a move renamed onto
    /// it meanwhile: moves do not take the locks lock) fails at that row; the batch is rolled back
    /// to before the copy and inserted with the checks. Asking first which LFNs are known was no
    /// cheaper: on a table that grew since it was last analyzed, the planner scanned it whole.
    /// </summary>
    private static async Task<(List<(long Id, RuleFile File)> Fresh, List<RuleFile> Known)> NewFilesAsync(NpgsqlConnection conn, NpgsqlTransaction tx,
        IReadOnlyList<RuleFile> files, CancellationToken ct)
    {
        // A block of ids in one step: every insert into file runs under the locks lock, so no other
        // caller draws from the sequence in between (if one did, the copy would meet its id and
        // take the checked path below).
        var last = await conn.ExecuteScalarAsync<long>(new CommandDefinition("select setval('file_id_seq', nextval('file_id_seq') + @n - 1)",
            new { n = (long)files.Count }, tx, cancellationToken: ct));
        var first = last - files.Count + 1;
        var fresh = new List<(long Id, RuleFile File)>(files.Count);
        await tx.SaveAsync("fresh", ct);
        try
        {
            await using (var copy = await conn.BeginBinaryImportAsync("copy file (id, lfn, size, adler32) from stdin (format binary)", ct))
            {
                for (var i = 0; i < files.Count; i++)
                {
                    var f = files[i];
                    await copy.StartRowAsync(ct);
                    await copy.WriteAsync(first + i, NpgsqlDbType.Bigint, ct);
                    await copy.WriteAsync(f.Lfn, NpgsqlDbType.Text, ct);
                    await copy.WriteAsync(f.Size, NpgsqlDbType.Bigint, ct);
                    await copy.WriteAsync(f.Adler32, NpgsqlDbType.Text, ct);
                    fresh.Add((first + i, f));
                }
                await copy.CompleteAsync(ct);
            }
            await tx.ReleaseAsync("fresh", ct);
            return (fresh, []);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            await tx.RollbackAsync("fresh", ct);
        }
        return await InsertCheckedAsync(conn, tx, files, ct);
    }

    /// <summary>Inserts a batch's files with a conflict check on every LFN: answers the files inserted now, with their ids, and the others.</summary>
    private static async Task<(List<(long Id, RuleFile File)> Fresh, List<RuleFile> Known)> InsertCheckedAsync(NpgsqlConnection conn, NpgsqlTransaction tx,
        IReadOnlyList<RuleFile> files, CancellationToken ct)
    {
        var inserted = new Dictionary<string, long>(files.Count, StringComparer.Ordinal);
        foreach (var (lfn, id) in await conn.QueryAsync<(string, long)>(new CommandDefinition("""
            insert into file (lfn, size, adler32)
            select * from unnest(@lfns::text[], @sizes::bigint[], @adlers::text[]) order by 1
            on conflict (lfn) do nothing
            returning lfn, id
            """, new { lfns = files.Select(f => f.Lfn).ToArray(), sizes = files.Select(f => f.Size).ToArray(),
                adlers = files.Select(f => f.Adler32).ToArray() }, tx, cancellationToken: ct)))
            inserted[lfn] = id;
        var fresh = new List<(long Id, RuleFile File)>(inserted.Count);
        var known = new List<RuleFile>(files.Count - inserted.Count);
        foreach (var f in files)
            if (inserted.TryGetValue(f.Lfn, out var id)) fresh.Add((id, f));
            else known.Add(f);
        return (fresh, known);
    }

    /// <summary>
    /// Files the service knew already: the locks other rules hold on them weigh in the choice, and
    /// every insert is idempotent (a lock per rule, file and SE; a live request per file and SE).
    /// </summary>
    private static async Task ApplyKnownAsync(NpgsqlConnection conn, NpgsqlTransaction tx, RuleRow rule, List<RuleFile> known,
        List<(string Se, bool There)> chosen, CancellationToken ct)
    {
        var ids = new Dictionary<string, long>(known.Count, StringComparer.Ordinal);
        var held = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        // By the indexes, whatever the statistics say (for the rest of the batch's transaction too):
        // an evaluation grows the tables faster than they are analyzed, and a plan for the nearly
        // empty tables the statistics still describe scanned the file table once per batch.
        await conn.ExecuteAsync(new CommandDefinition("set local enable_seqscan = off", transaction: tx, cancellationToken: ct));
        foreach (var (lfn, id, se) in await conn.QueryAsync<(string, long, string?)>(new CommandDefinition("""
            select f.lfn, f.id, l.se from unnest(@lfns::text[]) as w(lfn) join file f on f.lfn = w.lfn
            left join lock l on l.file_id = f.id and l.rule_id <> @id
            """, new { lfns = known.Select(f => f.Lfn).ToArray(), id = rule.Id }, tx, cancellationToken: ct)))
        {
            ids[lfn] = id;
            if (se is not null) (held.TryGetValue(lfn, out var list) ? list : held[lfn] = []).Add(se);
        }
        await conn.ExecuteAsync(new CommandDefinition("""
            create temp table if not exists eval_lock (file_id bigint, se text, state smallint) on commit delete rows;
            """, transaction: tx, cancellationToken: ct));
        await using (var copy = await conn.BeginBinaryImportAsync("copy eval_lock (file_id, se, state) from stdin (format binary)", ct))
        {
            foreach (var f in known)
            {
                if (!ids.TryGetValue(f.Lfn, out var id)) continue;
                Choose(rule, f, held.GetValueOrDefault(f.Lfn), chosen);
                foreach (var (se, there) in chosen)
                {
                    await copy.StartRowAsync(ct);
                    await copy.WriteAsync(id, NpgsqlDbType.Bigint, ct);
                    await copy.WriteAsync(se, NpgsqlDbType.Text, ct);
                    await copy.WriteAsync((short)(there ? LockState.Ok : LockState.Replicating), NpgsqlDbType.Smallint, ct);
                }
            }
            await copy.CompleteAsync(ct);
        }
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
    }

    private static async Task WriteLockAsync(NpgsqlBinaryImporter copy, long rule, long file, string se, bool there, CancellationToken ct)
    {
        await copy.StartRowAsync(ct);
        await copy.WriteAsync(rule, NpgsqlDbType.Bigint, ct);
        await copy.WriteAsync(file, NpgsqlDbType.Bigint, ct);
        await copy.WriteAsync(se, NpgsqlDbType.Text, ct);
        await copy.WriteAsync((short)(there ? LockState.Ok : LockState.Replicating), NpgsqlDbType.Smallint, ct);
    }

    /// <summary>
    /// The rule's copies of one file, into <paramref name="into"/>: targets holding an available
    /// replica first, then those another rule holds the file on, then the rest, each group in the
    /// order <see cref="Spread"/> gives (no LINQ: this runs once per file of a million-file rule).
    /// </summary>
    private static void Choose(RuleRow rule, RuleFile file, List<string>? heldElsewhere, List<(string Se, bool There)> into)
    {
        into.Clear();
        var targets = rule.Targets;
        Span<(int Rank, ulong Spread, int Index)> ranked = targets.Length <= 32 ? stackalloc (int, ulong, int)[targets.Length] : new (int, ulong, int)[targets.Length];
        var all = rule.Copies >= targets.Length; // every target is taken: their order does not matter
        for (var i = 0; i < targets.Length; i++)
        {
            var rank = Array.IndexOf(file.AvailableOn, targets[i]) >= 0 ? 0 : heldElsewhere?.Contains(targets[i]) == true ? 1 : 2;
            ranked[i] = (rank, all ? 0 : Spread(file.Lfn, targets[i]), i);
        }
        ranked.Sort();
        for (var i = 0; i < rule.Copies && i < ranked.Length; i++)
            into.Add((targets[ranked[i].Index], ranked[i].Rank == 0));
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

/// <summary>A file as rule evaluation needs it: its LFN, size and checksum, and the SEs holding an available replica of it.</summary>
public sealed record RuleFile(string Lfn, long Size, string Adler32, string[] AvailableOn);
