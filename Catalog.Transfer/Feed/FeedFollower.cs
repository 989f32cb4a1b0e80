using Catalog.Client;
using Catalog.Contracts;
using Catalog.Transfer.Queue;
using Catalog.Transfer.Rules;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Catalog.Transfer.Feed;

/// <summary>
/// Follows the catalog's change feed (long-polled, so a new file is seen within a second or so):
/// files registered under a rule get their locks and requests (for a metadata-query rule, those
/// of them the catalog says match); a locked replica that is removed
/// or goes bad is copied again from another replica (one made unavailable, an SE's downtime, is not); a file that appears on a source lets its
/// source-less requests try again; removed files drop their locks; moves follow the LFN. The
/// cursor is stored after a page is applied, and applying is idempotent, so a restart re-reads at
/// most one page. A cursor past the feed's retention (410) makes every rule be evaluated afresh.
/// </summary>
public sealed class FeedFollower(NpgsqlDataSource db, CatalogClient catalog, Evaluator evaluator, Conveyor conveyor,
    IOptions<TransferOptions> options, ILogger<FeedFollower> log) : BackgroundService
{
    private DateTime lastQueryRun = DateTime.MinValue;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        string? cursor = null;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                cursor ??= await LoadCursorAsync(stoppingToken);
                var page = await catalog.ChangesAsync(cursor, limit: 2000, wait: TimeSpan.FromSeconds(5), ct: stoppingToken);
                if (page.Changes.Count > 0) await ApplyAsync(page.Changes, cursor, stoppingToken);
                if (page.Next != cursor) await SaveCursorAsync(cursor = page.Next, stoppingToken);
                await QueryRulesAsync(stoppingToken);
            }
            catch (CatalogClientException e) when (e.Code == ErrorCode.ChangesExpired)
            {
                log.LogWarning("The feed dropped changes after our cursor: evaluating every rule afresh");
                var head = (await catalog.ChangesAsync("latest", ct: stoppingToken)).Next;
                await using (var conn = await db.OpenConnectionAsync(stoppingToken))
                    foreach (var rule in await RuleStore.ListAsync(conn, null, stoppingToken))
                        await evaluator.EvaluateAsync(rule, stoppingToken);
                await SaveCursorAsync(cursor = head, stoppingToken);
            }
            catch (Exception e) when (e is NpgsqlException or HttpRequestException or TimeoutException or CatalogClientException or TaskCanceledException
                && !stoppingToken.IsCancellationRequested)
            {
                log.LogWarning(e, "Following the change feed failed; trying again");
                await Task.Delay(TimeSpan.FromSeconds(2), stoppingToken);
            }
        }
    }

    private async Task<string> LoadCursorAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        // A rule whose first evaluation a stop interrupted is evaluated again (idempotent), then marked.
        foreach (var rule in (await RuleStore.ListAsync(conn, null, ct)).Where(r => !r.Evaluated))
        {
            await evaluator.EvaluateAsync(rule, ct);
            await conn.ExecuteAsync(new CommandDefinition("update rule set evaluated = true where id = @Id", rule, cancellationToken: ct));
        }
        if (await conn.QuerySingleOrDefaultAsync<string>(new CommandDefinition("select cursor from feed_cursor", cancellationToken: ct)) is { } stored)
            return stored;
        // The first start: rules made from now on are evaluated in full when made, so the feed starts at its head.
        var head = (await catalog.ChangesAsync("latest", ct: ct)).Next;
        await SaveCursorAsync(head, ct);
        return head;
    }

    private async Task SaveCursorAsync(string cursor, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            insert into feed_cursor (cursor) values (@cursor) on conflict (one) do update set cursor = excluded.cursor, read = now()
            """, new { cursor }, cancellationToken: ct));
    }

    private async Task ApplyAsync(IReadOnlyList<Change> changes, string cursor, CancellationToken ct)
    {
        List<RuleRow> active;
        var renamedAlready = 0; // the first changes of a page read again whose removals and moves are applied (see RenameAsync)
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            active = (await RuleStore.ListAsync(conn, null, ct)).Where(r => r.State != (short)RuleState.Suspended).ToList();
            var (from, count) = await conn.QuerySingleOrDefaultAsync<(string?, int)>(new CommandDefinition("select renamed_from, renamed_count from feed_cursor",
                cancellationToken: ct));
            if (from == cursor) renamedAlready = count;
        }
        var rules = active.Where(r => r.Kind != SelectorKind.Query).ToList();
        var queryRules = active.Where(r => r.Kind == SelectorKind.Query).ToList();
        var registered = new List<string>();

        var newFiles = new Dictionary<long, HashSet<string>>();
        var lost = new List<(string Lfn, string Se)>();
        var arrived = new HashSet<string>(StringComparer.Ordinal);
        // Removals and moves, in feed order: a move may take the LFN of a file removed just before it.
        var renames = new List<(string? From, string To, bool Directory)>(); // From null: To was removed
        var corrected = new Dictionary<string, (long Size, string Adler32)>(StringComparer.Ordinal);
        var renamedSes = new List<(string From, string To)>();
        var movedDirectories = new List<string>();
        // A file (newly registered, or moved here) for every rule that covers it, and for the query rules to ask about.
        void Arrived(string lfn, string? dataset)
        {
            foreach (var rule in rules.Where(r => r.Covers(lfn, dataset)))
                (newFiles.TryGetValue(rule.Id, out var set) ? set : newFiles[rule.Id] = new(StringComparer.Ordinal)).Add(lfn);
            if (queryRules.Count > 0) registered.Add(lfn);
        }
        // A name registered earlier in the page that no longer names that file (removed, or moved away).
        void Unregistered(string lfn)
        {
            foreach (var set in newFiles.Values) set.Remove(lfn);
            registered.Remove(lfn);
        }
        // Lost replicas follow their file (or every file under a directory) to its new name.
        void LostMoved(string from, string to, bool directory)
        {
            for (var j = 0; j < lost.Count; j++)
                if (directory ? lost[j].Lfn.StartsWith(from + "/", StringComparison.Ordinal) : lost[j].Lfn == from)
                    lost[j] = (to + lost[j].Lfn[from.Length..], lost[j].Se);
        }
        for (var i = 0; i < changes.Count; i++)
        {
            var c = changes[i];
            var renamed = i < renamedAlready;
            switch (c.Kind)
            {
                case ChangeKind.FileRegistered: Arrived(c.Lfn, c.Dataset); break;
                // Removed or bad: gone for good, copied again. Unavailable (an SE in downtime) is waited out.
                case ChangeKind.ReplicaRemoved:
                case ChangeKind.ReplicaStateChanged when c.State is ReplicaState.Bad:
                    lost.Add((c.Lfn, c.Se!));
                    break;
                case ChangeKind.ReplicaAdded or ChangeKind.ReplicaStateChanged when c.State == ReplicaState.Available:
                    arrived.Add(c.Lfn);
                    break;
                case ChangeKind.FileRemoved:
                    if (!renamed) renames.Add((null, c.Lfn, false));
                    // Registered earlier in the page and gone: asked about after the removals and
                    // moves, its LFN could answer for a file moved onto it since, which then came
                    // twice (and its row was set aside by its own move).
                    Unregistered(c.Lfn);
                    // Replicas the removed file lost earlier in the page are no one's concern now:
                    // removals and moves are applied first, and they would be copied again for a
                    // file moved onto this LFN later in the page.
                    lost.RemoveAll(l => l.Lfn == c.Lfn);
                    break;
                case ChangeKind.FileMoved:
                    if (!renamed) renames.Add((c.OldLfn!, c.Lfn, false));
                    lost.RemoveAll(l => l.Lfn == c.Lfn); // a file that left this LFN earlier (it moves only onto a free name)
                    LostMoved(c.OldLfn!, c.Lfn, directory: false);
                    // A file goes by its new name from here on: registered earlier in this page (its
                    // old name would find nothing), or moved into what a rule covers.
                    Unregistered(c.OldLfn!);
                    Arrived(c.Lfn, c.Dataset);
                    break;
                case ChangeKind.DirectoryMoved:
                    if (!renamed) renames.Add((c.OldLfn!, c.Lfn, true));
                    LostMoved(c.OldLfn!, c.Lfn, directory: true);
                    // Its files are read again under the new name for the rules that cover it.
                    foreach (var set in newFiles.Values) set.RemoveWhere(l => l.StartsWith(c.OldLfn + "/", StringComparison.Ordinal));
                    movedDirectories.Add(c.Lfn);
                    break;
                case ChangeKind.FileCorrected when c.Size is { } size && c.Adler32 is { } adler: corrected[c.Lfn] = (size, adler); break;
                case ChangeKind.StorageElementRenamed when c.OldSe is { } from && c.Se is { } to: renamedSes.Add((from, to)); break;
            }
        }

        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            foreach (var (from, to) in renamedSes) await RenameSeAsync(conn, from, to, ct);
            await RenameAsync(conn, renames, cursor, changes.Count, ct);
            // A data manager corrected a file's size or checksum: copies are verified against the new
            // values, and its transfers that got stuck (on a checksum mismatch, most likely) are due
            // for their retry now (the conveyor's retry puts them and their locks back in the queue).
            if (corrected.Count > 0)
                await conn.ExecuteAsync(new CommandDefinition("""
                    with fixed as (
                        update file f set size = w.size, adler32 = w.adler32
                        from unnest(@lfns::text[], @sizes::bigint[], @adlers::text[]) as w(lfn, size, adler32)
                        where f.lfn = w.lfn and (f.size, f.adler32) is distinct from (w.size, w.adler32)
                        returning f.id
                    )
                    update transfer t set next_attempt = now(), updated = now()
                    from fixed where t.file_id = fixed.id and t.state = 3
                    """, new { lfns = corrected.Keys.ToArray(), sizes = corrected.Values.Select(v => v.Size).ToArray(),
                        adlers = corrected.Values.Select(v => v.Adler32).ToArray() }, cancellationToken: ct));
            if (lost.Count > 0)
            {
                // The catalog's word now: a replica that is available again (registered again later in
                // the page or since, or copied back before a crash made this page be read again) is
                // not copied once more.
                var now = new Dictionary<string, string[]>(StringComparer.Ordinal);
                foreach (var f in await evaluator.LookupAsync(lost.Select(l => l.Lfn).Distinct(StringComparer.Ordinal).ToList(), ct))
                    now[f.Lfn] = f.AvailableOn;
                lost.RemoveAll(l => now.TryGetValue(l.Lfn, out var on) && on.Contains(l.Se));
                if (lost.Count > 0) await ReplicateAgainAsync(conn, lost, ct);
            }
            if (arrived.Count > 0)
                await conn.ExecuteAsync(new CommandDefinition("""
                    update transfer t set state = 0, attempts = 0, next_attempt = now(), updated = now()
                    from file f where f.id = t.file_id and f.lfn = any(@lfns) and t.state = 3 and t.reason like 'no available source%'
                    """, new { lfns = arrived.ToArray() }, cancellationToken: ct));
        }
        foreach (var (ruleId, lfns) in newFiles)
            await ApplyIfKeptAsync(rules.Single(r => r.Id == ruleId), lfns, ct);
        // A directory moved into what a rule covers: every file under it, as an evaluation would.
        foreach (var directory in movedDirectories)
            foreach (var rule in rules.Where(r => r.Covers(directory + "/-", null)))
                await evaluator.EvaluateAsync(rule, ct, under: directory);
        var queried = registered.Count > 0 && await QueryNewFilesAsync(queryRules, registered, ct);
        if (newFiles.Count > 0 || movedDirectories.Count > 0 || lost.Count > 0 || arrived.Count > 0 || corrected.Count > 0 || queried) conveyor.Wake();
    }

    /// <summary>
    /// Locks for new files of a rule, unless the rule was removed since this page began. Files the
    /// rule locks already are passed over before the catalog is asked about them: a rule made over
    /// a dataset just registered is evaluated while the feed still brings the dataset's
    /// registrations, which would otherwise be looked up and checked again, page by page.
    /// </summary>
    private async Task<bool> ApplyIfKeptAsync(RuleRow rule, IReadOnlyCollection<string> lfns, CancellationToken ct)
    {
        HashSet<string> locked;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            // Per LFN, by the two indexes, whatever the statistics say: while an evaluation fills the
            // tables they can still describe them as nearly empty, and the plans they led to (the
            // file table scanned, or every lock of the rule walked, per page) cost more than the
            // lookups this saves.
            await using var tx = await conn.BeginTransactionAsync(ct);
            locked = (await conn.QueryAsync<string>(new CommandDefinition("""
                set local enable_seqscan = off;
                select w.lfn from unnest(@lfns::text[]) w(lfn)
                cross join lateral (select f.id from file f where f.lfn = w.lfn offset 0) f
                cross join lateral (select 1 from lock l where l.rule_id = @id and l.file_id = f.id limit 1) l
                """, new { id = rule.Id, lfns = lfns.ToArray() }, tx, cancellationToken: ct))).ToHashSet(StringComparer.Ordinal);
        }
        var rest = locked.Count == 0 ? lfns : lfns.Where(l => !locked.Contains(l)).ToList();
        if (rest.Count == 0) return true;
        try { await evaluator.ApplyAsync(rule, await evaluator.LookupAsync(rest, ct), ct); return true; }
        catch (RuleRemovedException) { return false; }
    }

    /// <summary>
    /// New files under a metadata-query rule: the feed does not say whether a file matches the
    /// query, so the catalog is asked, once per rule and directory that received files (the
    /// directories of a page are few: a job writes into its datablock), and the matches among the
    /// new files get their locks. Answers whether any rule took a file.
    /// </summary>
    private async Task<bool> QueryNewFilesAsync(List<RuleRow> queryRules, List<string> registered, CancellationToken ct)
    {
        var taken = false;
        foreach (var rule in queryRules)
        {
            var under = rule.Under ?? "/";
            var mine = registered.Where(l => under == "/" || l.StartsWith(under + "/", StringComparison.Ordinal)).ToHashSet(StringComparer.Ordinal);
            if (mine.Count == 0) continue;
            var matched = new List<string>();
            foreach (var dir in mine.Select(l => l[..l.LastIndexOf('/')]).Distinct(StringComparer.Ordinal))
                await foreach (var row in catalog.QueryAllAsync(new QueryRequest(rule.Selector, dir, Limit: 10_000), ct))
                    if (mine.Remove(row.Path)) matched.Add(row.Path);
            if (matched.Count == 0) continue;
            taken |= await ApplyIfKeptAsync(rule, matched, ct);
        }
        return taken;
    }

    /// <summary>
    /// An SE renamed in the catalog (its replicas keep it): rules, locks, the queue, pending deletions
    /// and the link settings name it by its new name from now on; an expression that was just the old
    /// name becomes the new one. Attempts already made keep the name they were made under (history).
    /// </summary>
    private static async Task RenameSeAsync(NpgsqlConnection conn, string from, string to, CancellationToken ct)
    {
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("select pg_advisory_xact_lock(@id)", new { id = Evaluator.LocksLockId }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition("""
            update rule set targets = array_replace(targets, @from, @to),
                            se_expression = case when se_expression = @from then @to else se_expression end, updated = now()
            where @from = any(targets) or se_expression = @from;
            update lock set se = @to where se = @from;
            update transfer set destination = @to where destination = @from;
            update transfer set source = @to where source = @from;
            update deletion set se = @to where se = @from;
            update link set source = @to where source = @from;
            update link set destination = @to where destination = @from;
            """, new { from, to }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
    }

    /// <summary>A locked replica that went away (removed, bad, unavailable): its locks replicate again, from another copy.</summary>
    private static async Task ReplicateAgainAsync(NpgsqlConnection conn, List<(string Lfn, string Se)> lost, CancellationToken ct)
    {
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("select pg_advisory_xact_lock(@id)", new { id = Evaluator.LocksLockId }, tx, cancellationToken: ct));
        var rules = (await conn.QueryAsync<long>(new CommandDefinition("""
            with gone as (
                select f.id as file_id, w.se from unnest(@lfns::text[], @ses::text[]) as w(lfn, se) join file f on f.lfn = w.lfn
            ), relocked as (
                update lock l set state = 1 from gone g where l.file_id = g.file_id and l.se = g.se and l.state = 0 returning l.rule_id, l.file_id, l.se
            ), queued as (
                insert into transfer (file_id, destination, state, priority)
                select distinct r.file_id, r.se, 0::smallint, 3::smallint from relocked r
                on conflict (file_id, destination) where state in (0, 1, 3) do nothing
            )
            select distinct rule_id from relocked
            """, new { lfns = lost.Select(l => l.Lfn).ToArray(), ses = lost.Select(l => l.Se).ToArray() }, tx, cancellationToken: ct))).ToArray();
        await RuleStore.RefreshStatesAsync(conn, tx, rules, ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>
    /// Removals and moves in the order the catalog made them (consecutive removals together). A
    /// file's LFN can be taken again after its removal, by a move or a new registration, so a
    /// removed file's row gives its LFN up (its transfers keep it for their history) and a move first
    /// sets aside any row still on its target: before, a move onto a removed file's LFN broke the
    /// LFN's uniqueness and stopped the feed, and a file registered again under it was verified
    /// against the old file's checksum.
    /// </summary>
    private static async Task RenameAsync(NpgsqlConnection conn, List<(string? From, string To, bool Directory)> renames, string cursor, int changes,
        CancellationToken ct)
    {
        if (renames.Count == 0) return;
        // One transaction for the page's removals and moves, which records that the page's first
        // <changes> changes after <cursor> are applied: the page's cursor is stored only after all of
        // it, and a page read again from there must not apply them twice.
        await using var tx = await conn.BeginTransactionAsync(ct);
        var removed = new List<string>();
        async Task ForgetRemovedAsync()
        {
            if (removed.Count > 0) await ForgetFilesAsync(conn, tx, removed.ToArray(), ct);
            removed.Clear();
        }
        foreach (var (from, to, directory) in renames)
        {
            if (from is null) { removed.Add(to); continue; }
            await ForgetRemovedAsync();
            // Rows still on the target are files the catalog no longer has (it moves only onto free names).
            var stale = (await conn.QueryAsync<string>(new CommandDefinition(directory
                ? "select lfn from file where lfn >= @to || '/' and lfn < @to || '0'"
                : "select lfn from file where lfn = @to", new { to }, tx, cancellationToken: ct))).ToArray();
            if (stale.Length > 0) await ForgetFilesAsync(conn, tx, stale, ct);
            await conn.ExecuteAsync(new CommandDefinition(directory
                ? "update file set lfn = @to || substr(lfn, length(@from) + 1) where lfn >= @from || '/' and lfn < @from || '0'"
                : "update file set lfn = @to where lfn = @from", new { from, to }, tx, cancellationToken: ct));
        }
        await ForgetRemovedAsync();
        await conn.ExecuteAsync(new CommandDefinition("""
            insert into feed_cursor (cursor, renamed_from, renamed_count) values (@cursor, @cursor, @changes)
            on conflict (one) do update set renamed_from = excluded.renamed_from, renamed_count = excluded.renamed_count
            """, new { cursor, changes }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
    }

    /// <summary>
    /// Files removed from the catalog: no rule needs them any more, nothing waits to copy them, and
    /// their rows give their LFNs up (renamed '... (removed from the catalog, #id)', which their
    /// transfers' history shows).
    /// </summary>
    private static async Task ForgetFilesAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string[] lfns, CancellationToken ct)
    {
        var rules = (await conn.QueryAsync<long>(new CommandDefinition("""
            with doomed as (select id from file where lfn = any(@lfns)),
            canceled as (
                update transfer t set state = 4, reason = 'the file was removed from the catalog', updated = now()
                from doomed d where t.file_id = d.id and t.state in (0, 3)
            ), dropped as (
                delete from deletion x using doomed d where x.file_id = d.id
            ), released as (
                update file f set lfn = f.lfn || ' (removed from the catalog, #' || f.id || ')' from doomed d where f.id = d.id
            )
            delete from lock l using doomed d where l.file_id = d.id returning l.rule_id
            """, new { lfns }, tx, cancellationToken: ct))).Distinct().ToArray();
        await RuleStore.RefreshStatesAsync(conn, tx, rules, ct);
    }

    /// <summary>Rules over a metadata query are evaluated again on a schedule: the feed cannot say which new file a query matches.</summary>
    private async Task QueryRulesAsync(CancellationToken ct)
    {
        if (DateTime.UtcNow - lastQueryRun < options.Value.QueryRuleInterval) return;
        lastQueryRun = DateTime.UtcNow;
        List<RuleRow> rules;
        await using (var conn = await db.OpenConnectionAsync(ct))
            rules = (await RuleStore.ListAsync(conn, null, ct)).Where(r => r.Kind == SelectorKind.Query && r.State != (short)RuleState.Suspended).ToList();
        foreach (var rule in rules) await evaluator.EvaluateAsync(rule, ct);
        if (rules.Count > 0) conveyor.Wake();
    }
}
