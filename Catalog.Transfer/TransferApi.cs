using Catalog.Contracts;
using Catalog.Modules;
using Catalog.Transfer.Consistency;
using Catalog.Transfer.Queue;
using Catalog.Transfer.Rules;
using Dapper;
using Npgsql;

namespace Catalog.Transfer;

/// <summary>The transfer service's REST API: rules, transfers, per-link statistics, consistency checks.</summary>
public static class TransferApi
{
    public static IEndpointRouteBuilder MapTransferApi(this IEndpointRouteBuilder app)
    {
        var rules = app.MapGroup("/api/v1/rules").WithTags("rules");
        rules.MapPost("", async (RuleSpec? spec, HttpContext http, CallerIdentity identity, RuleService service, CancellationToken ct) =>
        {
            var who = await identity.RequireAsync(http, RuleService.PathOf(spec));
            var created = await service.CreateAsync(spec, who.Subject, ct);
            return Results.Created($"/api/v1/rules/{created.Id}", created);
        }).WithSummary("Add a replication rule: checked against the catalog, evaluated into locks and transfer requests before the answer");
        rules.MapGet("", async (string? account, HttpContext http, CallerIdentity identity, RuleService service, CancellationToken ct) =>
        {
            await identity.RequireAsync(http);
            return await service.ListAsync(account, ct);
        }).WithSummary("Rules with their locks counted by state");
        rules.MapGet("/{id:long}", async (long id, HttpContext http, CallerIdentity identity, RuleService service, CancellationToken ct) =>
        {
            await identity.RequireAsync(http);
            return await service.DetailAsync(id, ct);
        }).WithSummary("A rule, its stuck locks and why they are stuck");
        rules.MapDelete("/{id:long}", async (long id, HttpContext http, CallerIdentity identity, RuleService service, CancellationToken ct) =>
        {
            await identity.RequireAsync(http, await service.PathOfAsync(id, ct));
            return await service.RemoveAsync(id, "removed by a request", ct);
        }).WithSummary("Remove a rule; replicas no other rule holds are deleted (never a file's last)");
        rules.MapPost("/{id:long}/suspend", (long id, HttpContext http, CallerIdentity identity, RuleService service, CancellationToken ct) =>
            Control(id, true, http, identity, service, ct)).WithSummary("No new transfers for this rule");
        rules.MapPost("/{id:long}/resume", (long id, HttpContext http, CallerIdentity identity, RuleService service, CancellationToken ct) =>
            Control(id, false, http, identity, service, ct)).WithSummary("Transfers for this rule again");

        app.MapGet("/api/v1/transfers", async (TransferState? state, long? rule, long? before, int? limit, HttpContext http, CallerIdentity identity,
            NpgsqlDataSource db, CancellationToken ct) =>
        {
            await identity.RequireAsync(http);
            var size = limit ?? 100;
            if (size is < 1 or > 10_000) throw ServiceException.Invalid("limit", "must be between 1 and 10000");
            await using var conn = await db.OpenConnectionAsync(ct);
            var rows = (await conn.QueryAsync<(long Id, string Lfn, string? Source, string Destination, short State, short Attempts, string? Reason,
                DateTime Created, DateTime Updated, DateTime NextAttempt, long Size)>(new CommandDefinition("""
                select t.id, f.lfn, t.source, t.destination, t.state, t.attempts, t.reason, t.created, t.updated, t.next_attempt, f.size
                from transfer t join file f on f.id = t.file_id
                where (@state::smallint is null or t.state = @state) and (@before::bigint is null or t.id < @before)
                  and (@rule::bigint is null or exists (select 1 from lock l where l.rule_id = @rule and l.file_id = t.file_id and l.se = t.destination))
                order by t.id desc limit @size
                """, new { state = (short?)state, rule, before, size }, cancellationToken: ct))).AsList();
            return new TransferPage(rows.Select(r => new TransferInfo(r.Id, r.Lfn, r.Source, r.Destination, (TransferState)r.State, r.Attempts, r.Reason,
                Utc(r.Created), Utc(r.Updated), r.State is 0 or 3 ? Utc(r.NextAttempt) : null, r.Size)).ToList(),
                rows.Count == size ? rows[^1].Id : null);
        }).WithTags("transfers").WithSummary("Transfer requests, newest first, with the reason of the last failure");

        app.MapGet("/api/v1/links", async (DateTimeOffset? since, DateTimeOffset? until, HttpContext http, CallerIdentity identity, NpgsqlDataSource db, LinkOptimizer optimizer, CancellationToken ct) =>
        {
            await identity.RequireAsync(http);
            var from = since ?? DateTimeOffset.UtcNow.AddDays(-1);
            DateTime? to = until?.UtcDateTime;
            await using var conn = await db.OpenConnectionAsync(ct);
            var rows = await conn.QueryAsync<(string Source, string Destination, long Files, long Bytes, double Seconds, long Failures, string? Reasons)>(new CommandDefinition("""
                select a.source, a.destination,
                       count(*) filter (where a.outcome = 1), coalesce(sum(a.bytes) filter (where a.outcome = 1), 0)::bigint,
                       coalesce(extract(epoch from max(a.finished) filter (where a.outcome = 1) - min(a.started) filter (where a.outcome = 1)), 0)::float8,
                       count(*) filter (where a.outcome = 2),
                       (select jsonb_object_agg(c, n)::text from (select coalesce(b.reason_class, 'unknown') as c, count(*) as n from attempt b
                         where b.source = a.source and b.destination = a.destination and b.outcome = 2 and b.finished >= @from and (@to::timestamptz is null or b.finished < @to) group by 1) x)
                from attempt a where a.finished >= @from and (@to::timestamptz is null or a.finished < @to)
                group by a.source, a.destination order by a.source, a.destination
                """, new { from = from.UtcDateTime, to }, cancellationToken: ct));
            return new LinkStatsResponse(from, rows.Select(r =>
            {
                var (active, limit, note) = optimizer.State(r.Source, r.Destination);
                return new LinkStats(r.Source, r.Destination, r.Files, r.Bytes, r.Seconds > 0 ? r.Bytes / r.Seconds : 0, r.Failures,
                    r.Reasons is null ? new Dictionary<string, long>() : System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, long>>(r.Reasons)!,
                    active, limit, note);
            }).ToList());
        }).WithTags("links").WithSummary("Per link and direction, over the attempts that ended in [since, until): files, bytes, throughput, failures by reason, concurrency now");

        app.MapPost("/api/v1/consistency/{se}", async (string se, ConsistencyRequest? request, HttpContext http, CallerIdentity identity,
            ConsistencyCheck check, CancellationToken ct) =>
        {
            // It lists names across the whole SE and costs a full listing: operators only (modify over everything).
            await identity.RequireAsync(http, "/");
            return await check.RunAsync(se, request ?? new ConsistencyRequest(), ct);
        }).WithTags("consistency").WithSummary("Dark and lost files of an SE against the catalog; repair: lost replicas marked bad (and copied again where a rule needs them), old dark files deleted");
        return app;
    }

    private static async Task<RuleInfo> Control(long id, bool suspend, HttpContext http, CallerIdentity identity, RuleService service, CancellationToken ct)
    {
        await identity.RequireAsync(http, await service.PathOfAsync(id, ct));
        return await service.SuspendAsync(id, suspend, ct);
    }

    private static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));
}
