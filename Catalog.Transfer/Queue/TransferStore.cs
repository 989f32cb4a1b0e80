using Catalog.Transfer.Rules;
using Dapper;
using Npgsql;

namespace Catalog.Transfer.Queue;

/// <summary>A queued request; <c>Attempts</c> counts this round (what MaxAttempts limits), <c>Tries</c> its whole life (attempt rows are numbered by it).</summary>
public sealed record ReadyTransfer(long Id, long FileId, string Lfn, long Size, string Adler32, string Destination, short Attempts, int Tries);

/// <summary>A request being copied: <c>Attempts</c> of this round, <c>Try</c> the number of its attempt row.</summary>
public sealed record ActiveTransfer(long Id, long FileId, string Lfn, long Size, string Adler32, string Source, string Destination, short Attempts, int Try);

/// <summary>
/// The queue's state changes. Each is one guarded UPDATE (the state it leaves is in its WHERE), so
/// a request can be claimed once per attempt, and finishing an attempt moves the locks that wait
/// for it and the state of their rules in the same transaction.
/// </summary>
public static class TransferStore
{
    /// <summary>
    /// Requests whose turn it is: queued, due, needed by at least one rule that is not suspended,
    /// and not waiting for a deletion of the same replica to finish.
    /// </summary>
    public static async Task<List<ReadyTransfer>> ReadyAsync(NpgsqlConnection conn, int limit, CancellationToken ct) =>
        (await conn.QueryAsync<ReadyTransfer>(new CommandDefinition("""
            select t.id, t.file_id as FileId, f.lfn, f.size, f.adler32, t.destination, t.attempts, t.tries
            from transfer t join file f on f.id = t.file_id
            where t.state = 0 and t.next_attempt <= now()
              and exists (select 1 from lock l join rule r on r.id = l.rule_id
                          where l.file_id = t.file_id and l.se = t.destination and r.state <> 3)
              and not exists (select 1 from deletion d where d.file_id = t.file_id and d.se = t.destination)
            order by t.priority desc, t.next_attempt, t.id
            limit @limit
            """, new { limit }, cancellationToken: ct))).AsList();

    /// <summary>Claims a queued request for one attempt from <paramref name="source"/>; false when someone else moved it.</summary>
    public static async Task<bool> ClaimAsync(NpgsqlConnection conn, ReadyTransfer t, string source, CancellationToken ct)
    {
        await using var tx = await conn.BeginTransactionAsync(ct);
        var claimed = await conn.ExecuteAsync(new CommandDefinition("""
            update transfer set state = 1, source = @source, attempts = attempts + 1, tries = tries + 1, updated = now()
            where id = @Id and state = 0 and attempts = @Attempts and tries = @Tries
            """, new { t.Id, t.Attempts, t.Tries, source }, tx, cancellationToken: ct));
        if (claimed == 0) return false;
        await conn.ExecuteAsync(new CommandDefinition("""
            insert into attempt (transfer_id, attempt, source, destination, bytes) values (@Id, @attempt, @source, @Destination, @Size)
            """, new { t.Id, attempt = t.Tries + 1, source, t.Destination, t.Size }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>Requests an earlier run of the service claimed and did not finish.</summary>
    public static async Task<List<ActiveTransfer>> ActiveAsync(NpgsqlConnection conn, CancellationToken ct) =>
        (await conn.QueryAsync<ActiveTransfer>(new CommandDefinition("""
            select t.id, t.file_id as FileId, f.lfn, f.size, f.adler32, t.source, t.destination, t.attempts, t.tries as Try
            from transfer t join file f on f.id = t.file_id where t.state = 1 order by t.id
            """, cancellationToken: ct))).AsList();

    /// <summary>The attempt succeeded: the request is done, the locks waiting for it are OK, their rules are brought up to date.</summary>
    public static async Task DoneAsync(NpgsqlConnection conn, long id, int attempt, string? note, CancellationToken ct)
    {
        await using var tx = await conn.BeginTransactionAsync(ct);
        // The evaluation lock first, as rule evaluation takes it: before the rule rows, never after (no deadlock).
        await conn.ExecuteAsync(new CommandDefinition("select pg_advisory_xact_lock(@lockId)", new { lockId = Evaluator.LocksLockId }, tx, cancellationToken: ct));
        var fileSe = await conn.QuerySingleOrDefaultAsync<(long FileId, string Se)?>(new CommandDefinition("""
            update transfer set state = 2, reason = null, updated = now() where id = @id and state = 1 returning file_id, destination
            """, new { id }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition("""
            update attempt set outcome = 1, finished = now(), reason = @note where transfer_id = @id and attempt = @attempt
            """, new { id, attempt, note }, tx, cancellationToken: ct));
        if (fileSe is { } k)
        {
            await SetLocksAsync(conn, tx, k.FileId, k.Se, LockStateOk, ct);
            // Every rule that wanted it went while it was copied: it is deleted again, like any replica no rule holds.
            await conn.ExecuteAsync(new CommandDefinition("""
                insert into deletion (file_id, se) select @FileId, @Se
                where not exists (select 1 from lock where file_id = @FileId and se = @Se)
                on conflict do nothing;
                """, new { k.FileId, k.Se }, tx, cancellationToken: ct));
        }
        await tx.CommitAsync(ct);
    }

    private const short LockStateOk = 0, LockStateReplicating = 1, LockStateStuck = 2;

    /// <summary>
    /// The attempt failed: back to the queue after a backoff, or stuck (with its locks) when the
    /// attempts are spent, to be tried again on the stuck schedule. The reason is kept where users look.
    /// </summary>
    public static async Task FailedAsync(NpgsqlConnection conn, long id, int attempt, string reasonClass, string reason,
        bool stuck, DateTime nextAttempt, CancellationToken ct)
    {
        await using var tx = await conn.BeginTransactionAsync(ct);
        var fileSe = await conn.QuerySingleOrDefaultAsync<(long FileId, string Se)?>(new CommandDefinition("""
            update transfer set state = case when @stuck then 3 else 0 end, reason = @reason, next_attempt = @nextAttempt, updated = now()
            where id = @id and state = 1 returning file_id, destination
            """, new { id, stuck, reason, nextAttempt }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition("""
            update attempt set outcome = 2, finished = now(), reason_class = @reasonClass, reason = @reason where transfer_id = @id and attempt = @attempt
            """, new { id, attempt, reasonClass, reason }, tx, cancellationToken: ct));
        if (stuck && fileSe is { } k) await SetLocksAsync(conn, tx, k.FileId, k.Se, LockStateStuck, ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>A queued request that cannot start (no source replica): stuck with the reason, no attempt spent.</summary>
    public static async Task NoSourceAsync(NpgsqlConnection conn, long id, string reason, DateTime nextAttempt, CancellationToken ct)
    {
        await using var tx = await conn.BeginTransactionAsync(ct);
        var fileSe = await conn.QuerySingleOrDefaultAsync<(long FileId, string Se)?>(new CommandDefinition("""
            update transfer set state = 3, reason = @reason, next_attempt = @nextAttempt, updated = now()
            where id = @id and state = 0 returning file_id, destination
            """, new { id, reason, nextAttempt }, tx, cancellationToken: ct));
        if (fileSe is { } k) await SetLocksAsync(conn, tx, k.FileId, k.Se, LockStateStuck, ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>A queued request whose replica is already there (copied by someone else): done without a copy.</summary>
    public static async Task AlreadyThereAsync(NpgsqlConnection conn, long id, CancellationToken ct)
    {
        await using var tx = await conn.BeginTransactionAsync(ct);
        var fileSe = await conn.QuerySingleOrDefaultAsync<(long FileId, string Se)?>(new CommandDefinition("""
            update transfer set state = 2, reason = 'the replica was already available', updated = now()
            where id = @id and state = 0 returning file_id, destination
            """, new { id }, tx, cancellationToken: ct));
        if (fileSe is { } k) await SetLocksAsync(conn, tx, k.FileId, k.Se, LockStateOk, ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>Stuck requests whose retry time has come go back to the queue with fresh attempts; their locks replicate again.</summary>
    public static async Task<int> RetryStuckAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var tx = await conn.BeginTransactionAsync(ct);
        var rows = (await conn.QueryAsync<(long FileId, string Se)>(new CommandDefinition("""
            update transfer set state = 0, attempts = 0, updated = now()
            where state = 3 and next_attempt <= now() returning file_id, destination
            """, transaction: tx, cancellationToken: ct))).AsList();
        if (rows.Count > 0)
        {
            var rules = await conn.QueryAsync<long>(new CommandDefinition("""
                update lock l set state = 1 from unnest(@fileIds::bigint[], @ses::text[]) as w(file_id, se)
                where l.file_id = w.file_id and l.se = w.se and l.state = 2 returning l.rule_id
                """, new { fileIds = rows.Select(r => r.FileId).ToArray(), ses = rows.Select(r => r.Se).ToArray() }, tx, cancellationToken: ct));
            await RuleStore.RefreshStatesAsync(conn, tx, rules.Distinct().ToArray(), ct);
        }
        await tx.CommitAsync(ct);
        return rows.Count;
    }

    private static async Task SetLocksAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long fileId, string se, short state, CancellationToken ct)
    {
        var rules = await conn.QueryAsync<long>(new CommandDefinition("""
            update lock set state = @state where file_id = @fileId and se = @se and state <> @state returning rule_id
            """, new { fileId, se, state }, tx, cancellationToken: ct));
        await RuleStore.RefreshStatesAsync(conn, tx, rules.Distinct().ToArray(), ct);
    }
}
