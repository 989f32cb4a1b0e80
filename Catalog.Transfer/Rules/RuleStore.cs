using Catalog.Contracts;
using Dapper;
using Npgsql;

namespace Catalog.Transfer.Rules;

public enum SelectorKind : short { Dataset, Collection, Prefix, Query }

/// <summary>A stored rule (Dapper fills it by column name).</summary>
public sealed record RuleRow
{
    public long Id { get; init; }
    public string Account { get; init; } = "";
    public short SelectorKind { get; init; }
    public string Selector { get; init; } = "";
    public string? Under { get; init; }
    public string[]? Members { get; init; }
    public short Copies { get; init; }
    public string SeExpression { get; init; } = "";
    public string[] Targets { get; init; } = [];
    public short Priority { get; init; }
    public short State { get; init; }
    public string? Reason { get; init; }
    public string? Comment { get; init; }
    public DateTime? ExpiresAt { get; init; }
    public DateTime Created { get; init; }
    public bool Evaluated { get; init; }

    public SelectorKind Kind => (SelectorKind)SelectorKind;
    public string KindName => CatalogJson.Name(Kind);

    /// <summary>The path the rule concerns: what changing it needs a modify scope over.</summary>
    public string Path => Kind == Rules.SelectorKind.Query ? Under ?? "/" : Selector;

    /// <summary>Whether an LFN lies under what the rule covers (not for query rules: those are evaluated again on a schedule).</summary>
    public bool Covers(string lfn, string? dataset) => Kind switch
    {
        Rules.SelectorKind.Dataset => dataset == Selector || IsUnder(lfn, Selector),
        Rules.SelectorKind.Prefix => IsUnder(lfn, Selector),
        Rules.SelectorKind.Collection => Members is { } m && m.Any(d => dataset == d || IsUnder(lfn, d)),
        _ => false,
    };

    private static bool IsUnder(string lfn, string path) => lfn.Length > path.Length && lfn.StartsWith(path, StringComparison.Ordinal) && lfn[path.Length] == '/';
}

/// <summary>Rules and their lock counts.</summary>
public static class RuleStore
{
    private const string Columns = """
        id, account, selector_kind as SelectorKind, selector, under, members, copies, se_expression as SeExpression, targets,
        priority, state, reason, comment, expires_at as ExpiresAt, created, evaluated
        """;

    public static Task<long> InsertAsync(NpgsqlConnection conn, RuleRow r, CancellationToken ct) =>
        conn.ExecuteScalarAsync<long>(new CommandDefinition("""
            insert into rule (account, selector_kind, selector, under, members, copies, se_expression, targets, priority, state, comment, expires_at)
            values (@Account, @SelectorKind, @Selector, @Under, @Members, @Copies, @SeExpression, @Targets, @Priority, @State, @Comment, @ExpiresAt)
            returning id
            """, r, cancellationToken: ct));

    public static Task<RuleRow?> GetAsync(NpgsqlConnection conn, long id, CancellationToken ct) =>
        conn.QuerySingleOrDefaultAsync<RuleRow>(new CommandDefinition($"select {Columns} from rule where id = @id", new { id }, cancellationToken: ct));

    public static async Task<List<RuleRow>> ListAsync(NpgsqlConnection conn, string? account, CancellationToken ct) =>
        (await conn.QueryAsync<RuleRow>(new CommandDefinition(
            $"select {Columns} from rule where @account::text is null or account = @account order by id", new { account }, cancellationToken: ct))).AsList();

    /// <summary>Locks of each rule by state, and the files they cover.</summary>
    public static async Task<Dictionary<long, (long Files, long Ok, long Replicating, long Stuck)>> CountsAsync(NpgsqlConnection conn, long[] ids, CancellationToken ct)
    {
        var rows = await conn.QueryAsync<(long Rule, long Files, long Ok, long Replicating, long Stuck)>(new CommandDefinition("""
            select rule_id, count(distinct file_id), count(*) filter (where state = 0), count(*) filter (where state = 1), count(*) filter (where state = 2)
            from lock where rule_id = any(@ids) group by rule_id
            """, new { ids }, cancellationToken: ct));
        return rows.ToDictionary(r => r.Rule, r => (r.Files, r.Ok, r.Replicating, r.Stuck));
    }

    /// <summary>Stuck locks of a rule with the reason and schedule of their transfer.</summary>
    public static async Task<(List<StuckLock> First, Dictionary<string, long> Reasons)> StuckAsync(NpgsqlConnection conn, long id, int limit, CancellationToken ct)
    {
        var first = await conn.QueryAsync<(string Lfn, string Se, string? Reason, short Attempts, DateTime? Next)>(new CommandDefinition("""
            select f.lfn, l.se, t.reason, coalesce(t.attempts, 0::smallint), t.next_attempt
            from lock l join file f on f.id = l.file_id
            left join transfer t on t.file_id = l.file_id and t.destination = l.se and t.state = 3
            where l.rule_id = @id and l.state = 2 order by f.lfn limit @limit
            """, new { id, limit }, cancellationToken: ct));
        var reasons = await conn.QueryAsync<(string Reason, long Count)>(new CommandDefinition("""
            select coalesce(t.reason, 'unknown'), count(*)
            from lock l left join transfer t on t.file_id = l.file_id and t.destination = l.se and t.state = 3
            where l.rule_id = @id and l.state = 2 group by 1 order by 2 desc limit 20
            """, new { id }, cancellationToken: ct));
        return (first.Select(s => new StuckLock(s.Lfn, s.Se, s.Reason ?? "unknown", s.Attempts, s.Next is { } n ? new DateTimeOffset(DateTime.SpecifyKind(n, DateTimeKind.Utc)) : null)).ToList(),
            reasons.ToDictionary(r => r.Reason, r => r.Count));
    }

    /// <summary>
    /// Sets each rule's state from its locks (stuck before replicating before OK); suspended rules
    /// keep theirs. The rule rows are locked first, and the state is read by a later statement: two
    /// copies finishing at once each saw the other's lock still replicating, and the rule stayed
    /// replicating with every lock OK. The second now waits and reads the first's commit.
    /// </summary>
    public static async Task RefreshStatesAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, long[] ids, CancellationToken ct)
    {
        if (ids.Length == 0) return;
        if (tx is null)
        {
            await using var own = await conn.BeginTransactionAsync(ct);
            await RefreshStatesAsync(conn, own, ids, ct);
            await own.CommitAsync(ct);
            return;
        }
        await conn.ExecuteAsync(new CommandDefinition("select id from rule where id = any(@ids) order by id for update", new { ids }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition("""
            update rule r set state = s.state, updated = now(), reason = s.reason
            from (
                select r.id,
                       case when exists (select 1 from lock l where l.rule_id = r.id and l.state = 2) then 2
                            when exists (select 1 from lock l where l.rule_id = r.id and l.state = 1) then 1 else 0 end::smallint as state,
                       (select count(*) || ' locks stuck, e.g. ' || min(t.reason)
                        from lock l join transfer t on t.file_id = l.file_id and t.destination = l.se and t.state = 3
                        where l.rule_id = r.id and l.state = 2 having count(*) > 0) as reason
                from rule r where r.id = any(@ids) and r.state <> 3
            ) s
            where r.id = s.id and (r.state <> s.state or r.reason is distinct from s.reason)
            """, new { ids }, tx, cancellationToken: ct));
    }

    public static Task<int> SetSuspendedAsync(NpgsqlConnection conn, long id, bool suspended, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition(
            "update rule set state = case when @suspended then 3 else 1 end, updated = now() where id = @id",
            new { id, suspended }, cancellationToken: ct));
}
