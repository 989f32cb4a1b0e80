using System.Text.Json;
using Catalog.Contracts;
using Dapper;
using Npgsql;

namespace Catalog.Monitor.Status;

/// <summary>Targets, their probes, status changes and downtimes in the monitor's database.</summary>
public sealed class StatusStore(NpgsqlDataSource db)
{
    private sealed record Row(string Name, short Kind, short Status, int Failures, int Passes, string? Reason, DateTime Since, string Catalog);

    /// <summary>Records a probe and moves its target's status (the schedule's word first: a downtime's probes do not count).</summary>
    public async Task<(TargetStatus From, TargetStatus To, string? Reason)> RecordAsync(ProbeResult result, TargetKind kind, int banAfter, int recoverAfter, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            insert into target (name, kind) values (@name, @kind) on conflict (name) do update set last_seen = now()
            """, new { name = result.Target, kind = (short)kind }, tx, cancellationToken: ct));
        var row = await conn.QuerySingleAsync<Row>(new CommandDefinition(
            "select name, kind, status, failures, passes, reason, since, catalog from target where name = @name for update",
            new { name = result.Target }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition("""
            insert into probe (target, at, ok, ms, steps, error) values (@Target, @At, @Ok, @ms, @steps::jsonb, @Error)
            """, new { result.Target, At = result.At.UtcDateTime, result.Ok, ms = (float)result.Milliseconds,
                steps = JsonSerializer.Serialize(result.Steps, CatalogJson.Options), result.Error }, tx, cancellationToken: ct));
        var before = State(row);
        var after = StatusMachine.Next(before, result.Ok, result.Error, banAfter, recoverAfter);
        await SaveAsync(conn, tx, result.Target, before, after, ct);
        await tx.CommitAsync(ct);
        return (before.Status, after.Status, after.Reason);
    }

    /// <summary>Applies the downtime schedule to every known target; answers the changes it made.</summary>
    public async Task<IReadOnlyList<StatusChange>> ApplyScheduleAsync(Func<string, IReadOnlyList<Downtime>, Downtime?> current, CancellationToken ct)
    {
        var changes = new List<StatusChange>();
        await using var conn = await db.OpenConnectionAsync(ct);
        var downtimes = await ActiveDowntimesAsync(conn, ct);
        // One read of every target; only those the schedule moves are locked and written (the rest,
        // nearly always all of them, cost nothing more).
        var now = DateTimeOffset.UtcNow;
        var due = (await conn.QueryAsync<Row>(new CommandDefinition("select name, kind, status, failures, passes, reason, since, catalog from target", cancellationToken: ct)))
            .Where(r => StatusMachine.Schedule(State(r), current(r.Name, downtimes), now) is not null).Select(r => r.Name).ToList();
        foreach (var name in due)
        {
            await using var tx = await conn.BeginTransactionAsync(ct);
            var row = await conn.QuerySingleAsync<Row>(new CommandDefinition(
                "select name, kind, status, failures, passes, reason, since, catalog from target where name = @name for update", new { name }, tx, cancellationToken: ct));
            var before = State(row);
            if (StatusMachine.Schedule(before, current(name, downtimes), now) is { } after)
            {
                await SaveAsync(conn, tx, name, before, after, ct);
                changes.Add(new StatusChange(name, now, before.Status, after.Status, after.Reason ?? ""));
            }
            await tx.CommitAsync(ct);
        }
        return changes;
    }

    private static async Task SaveAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string name, TargetState before, TargetState after, CancellationToken ct)
    {
        var changed = before.Status != after.Status;
        await conn.ExecuteAsync(new CommandDefinition("""
            update target set status = @status, failures = @Failures, passes = @Passes,
                   reason = case when @changed then @Reason else reason end, since = case when @changed then now() else since end
            where name = @name
            """, new { name, status = (short)after.Status, after.Failures, after.Passes, after.Reason, changed }, tx, cancellationToken: ct));
        if (changed)
            await conn.ExecuteAsync(new CommandDefinition("""
                insert into status_change (target, from_status, to_status, reason) values (@name, @from, @to, @reason)
                """, new { name, from = (short)before.Status, to = (short)after.Status, reason = after.Reason ?? "" }, tx, cancellationToken: ct));
    }

    private static TargetState State(Row r) => new((TargetStatus)r.Status, r.Failures, r.Passes, r.Reason, r.Catalog.Length > 0);

    /// <summary>SE targets whose catalog switch differs from what their status asks: (target, wanted, applied now).</summary>
    public async Task<IReadOnlyList<(string Target, string Wanted, string Applied)>> SwitchesDueAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<(string Name, short Status, string Catalog)>(new CommandDefinition(
            "select name, status, catalog from target where kind = @kind", new { kind = (short)TargetKind.StorageElement }, cancellationToken: ct));
        return rows.Select(r => (r.Name, Wanted((TargetStatus)r.Status), r.Catalog)).Where(r => r.Item2 != r.Catalog).ToList();
    }

    /// <summary>What the catalog should say of an SE in this status: nothing switched off, no writes, or down (no reads either).</summary>
    public static string Wanted(TargetStatus status) => status switch
    {
        TargetStatus.Banned or TargetStatus.Probing or TargetStatus.Draining => "no-writes",
        TargetStatus.Downtime => "down",
        _ => "",
    };

    public async Task MarkAppliedAsync(string target, string applied, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("update target set catalog = @applied where name = @target", new { target, applied }, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<TargetInfo>> TargetsAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<(string Name, short Kind, short Status, int Failures, int Passes, string? Reason, DateTime Since, string Catalog,
            DateTime? At, bool? Ok, float? Ms, string? Steps, string? Error)>(new CommandDefinition("""
            select t.name, t.kind, t.status, t.failures, t.passes, t.reason, t.since, t.catalog, p.at, p.ok, p.ms, p.steps::text, p.error
            from target t left join lateral (select * from probe p where p.target = t.name order by at desc limit 1) p on true
            where t.last_seen > now() - interval '1 day'
            order by t.kind, t.name
            """, cancellationToken: ct));
        return rows.Select(r => new TargetInfo(r.Name, (TargetKind)r.Kind, (TargetStatus)r.Status, r.Reason, Utc(r.Since), r.Failures, r.Passes,
            r.Catalog.Length > 0, r.At is null ? null : new ProbeResult(r.Name, Utc(r.At.Value), r.Ok!.Value, r.Ms!.Value,
                JsonSerializer.Deserialize<List<ProbeStep>>(r.Steps!, CatalogJson.Options)!, r.Error))).ToList();
    }

    public async Task<IReadOnlyList<ProbeResult>> ProbesAsync(string target, int limit, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<(DateTime At, bool Ok, float Ms, string Steps, string? Error)>(new CommandDefinition(
            "select at, ok, ms, steps::text, error from probe where target = @target order by at desc limit @limit", new { target, limit }, cancellationToken: ct));
        return rows.Select(r => new ProbeResult(target, Utc(r.At), r.Ok, r.Ms, JsonSerializer.Deserialize<List<ProbeStep>>(r.Steps, CatalogJson.Options)!, r.Error)).ToList();
    }

    public async Task<IReadOnlyList<StatusChange>> HistoryAsync(string? target, int limit, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<(string Target, DateTime At, short From, short To, string Reason)>(new CommandDefinition("""
            select target, at, from_status, to_status, reason from status_change
            where @target::text is null or target = @target order by id desc limit @limit
            """, new { target, limit }, cancellationToken: ct));
        return rows.Select(r => new StatusChange(r.Target, Utc(r.At), (TargetStatus)r.From, (TargetStatus)r.To, r.Reason)).ToList();
    }

    public async Task<Downtime> AddDowntimeAsync(string target, DateTimeOffset starts, DateTimeOffset ends, DateTimeOffset drainFrom, string reason, string owner, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var id = await conn.ExecuteScalarAsync<long>(new CommandDefinition("""
            insert into downtime (target, starts, ends, drain_from, reason, owner) values (@target, @starts, @ends, @drainFrom, @reason, @owner) returning id
            """, new { target, starts = starts.UtcDateTime, ends = ends.UtcDateTime, drainFrom = drainFrom.UtcDateTime, reason, owner }, cancellationToken: ct));
        return new Downtime(id, target, starts, ends, drainFrom, reason, owner);
    }

    /// <summary>Ends a downtime now (the target then probes its way back); false when there is none of this id.</summary>
    public async Task<Downtime?> RemoveDowntimeAsync(long id, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var row = await conn.QuerySingleOrDefaultAsync<DowntimeRow>(new CommandDefinition(
            "delete from downtime where id = @id returning id, target, starts, ends, drain_from as drainfrom, reason, owner", new { id }, cancellationToken: ct));
        return row?.ToDowntime();
    }

    /// <summary>Downtimes not over yet (draining, running, or to come).</summary>
    public async Task<IReadOnlyList<Downtime>> DowntimesAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await ActiveDowntimesAsync(conn, ct);
    }

    private static async Task<IReadOnlyList<Downtime>> ActiveDowntimesAsync(NpgsqlConnection conn, CancellationToken ct) =>
        (await conn.QueryAsync<DowntimeRow>(new CommandDefinition(
            "select id, target, starts, ends, drain_from as drainfrom, reason, owner from downtime where ends > now() order by starts", cancellationToken: ct)))
        .Select(r => r.ToDowntime()).ToList();

    private sealed record DowntimeRow(long Id, string Target, DateTime Starts, DateTime Ends, DateTime DrainFrom, string Reason, string Owner)
    {
        public Downtime ToDowntime() => new(Id, Target, Utc(Starts), Utc(Ends), Utc(DrainFrom), Reason, Owner);
    }

    /// <summary>Probe results and status changes older than this go (the series keep their averages).</summary>
    public async Task PruneAsync(TimeSpan keep, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("delete from probe where at < now() - @keep; delete from downtime where ends < now() - @keep",
            new { keep }, cancellationToken: ct));
    }

    internal static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));
}
