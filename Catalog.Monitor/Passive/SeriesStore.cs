using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.RegularExpressions;
using Catalog.Contracts;
using Dapper;
using Npgsql;

namespace Catalog.Monitor.Passive;

/// <summary>One value of a named series with its labels.</summary>
public sealed record SeriesPoint(string Name, Dictionary<string, string> Labels, double Value);

/// <summary>
/// Time series in the monitor's database: one point per series and minute, rolled up into hourly
/// averages (and maxima) that outlive the minutes. Gauges overwrite their minute; counters add to
/// it, so a sampler that reads every few seconds still yields one-minute points, and a sum over
/// minutes is the count of what happened.
/// </summary>
public sealed partial class SeriesStore(NpgsqlDataSource db)
{
    private readonly ConcurrentDictionary<string, int> ids = new();

    /// <summary>The minute a moment falls in.</summary>
    public static DateTime Minute(DateTimeOffset at) => new(at.UtcTicks - at.UtcTicks % TimeSpan.TicksPerMinute, DateTimeKind.Utc);

    public Task SetAsync(DateTime minute, IReadOnlyList<SeriesPoint> points, CancellationToken ct) =>
        WriteAsync(points.Select(p => (minute, p)).ToList(), add: false, null, ct);

    /// <summary>
    /// Adds counts to their minutes and moves the reader's cursor in the same transaction, so a
    /// crash between the two can neither count a window twice nor lose it.
    /// </summary>
    public Task AddAsync(IReadOnlyList<(DateTime Minute, SeriesPoint Point)> points, (string Name, string Value)? cursor, CancellationToken ct) =>
        WriteAsync(points, add: true, cursor, ct);

    private async Task WriteAsync(IReadOnlyList<(DateTime Minute, SeriesPoint Point)> points, bool add, (string Name, string Value)? cursor, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var series = new int[points.Count];
        for (var i = 0; i < points.Count; i++) series[i] = await IdAsync(conn, points[i].Point, ct);
        // Merged per series and minute first: one statement may not touch a row twice.
        var merged = series.Zip(points).GroupBy(x => (x.First, x.Second.Minute))
            .Select(g => (g.Key.First, g.Key.Minute, V: add ? g.Sum(x => x.Second.Point.Value) : g.Last().Second.Point.Value)).ToList();
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (merged.Count > 0)
            await conn.ExecuteAsync(new CommandDefinition($"""
                insert into point (series_id, t, v) select * from unnest(@ids, @minutes, @values)
                on conflict (series_id, t) do update set v = {(add ? "point.v + excluded.v" : "excluded.v")}
                """, new { ids = merged.Select(m => m.First).ToArray(), minutes = merged.Select(m => m.Minute).ToArray(), values = merged.Select(m => m.V).ToArray() },
                tx, cancellationToken: ct));
        if (cursor is { } c)
            await conn.ExecuteAsync(new CommandDefinition("insert into cursor values (@Name, @Value) on conflict (name) do update set value = excluded.value",
                new { c.Name, c.Value }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
    }

    private async Task<int> IdAsync(NpgsqlConnection conn, SeriesPoint p, CancellationToken ct)
    {
        var labels = JsonSerializer.Serialize(new SortedDictionary<string, string>(p.Labels, StringComparer.Ordinal));
        var key = p.Name + "\0" + labels;
        if (ids.TryGetValue(key, out var id)) return id;
        // Once per series and process (then cached): the no-op update makes the conflict answer the id too.
        id = await conn.ExecuteScalarAsync<int>(new CommandDefinition("""
            insert into series (name, labels) values (@name, @labels::jsonb)
            on conflict (name, labels) do update set name = excluded.name returning id
            """, new { name = p.Name, labels }, cancellationToken: ct));
        ids[key] = id;
        return id;
    }

    /// <summary>Adds to a failure group (source: job, transfer or probe), its text masked so alike failures count together.</summary>
    public async Task CountFailureAsync(string source, string production, string site, string message, long count, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            insert into failure (source, production, site, reason, count, last_seen, example) values (@source, @production, @site, @reason, @count, now(), @example)
            on conflict (source, production, site, reason) do update set count = failure.count + excluded.count, last_seen = now(), example = excluded.example
            """, new { source, production, site, reason = Mask(message), count, example = message.Length > 500 ? message[..500] : message }, cancellationToken: ct));
    }

    /// <summary>Sets a production's job failure groups to what its failed jobs say now.</summary>
    public async Task SetJobFailuresAsync(string production, IReadOnlyList<(string Site, string Message)> failed, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var groups = failed.GroupBy(f => (f.Site, Reason: Mask(f.Message))).Select(g => new
        {
            source = "job", production, site = g.Key.Site, reason = g.Key.Reason, count = (long)g.Count(), example = g.Last().Message,
        }).ToList();
        var kept = await conn.QueryAsync<(string Site, string Reason)>(new CommandDefinition(
            "select site, reason from failure where source = 'job' and production = @production", new { production }, tx, cancellationToken: ct));
        var now = groups.Select(g => (g.site, g.reason)).ToHashSet();
        foreach (var gone in kept.Where(k => !now.Contains(k)))
            await conn.ExecuteAsync(new CommandDefinition("delete from failure where source = 'job' and production = @production and site = @Site and reason = @Reason",
                new { production, gone.Site, gone.Reason }, tx, cancellationToken: ct));
        foreach (var g in groups)
            await conn.ExecuteAsync(new CommandDefinition("""
                insert into failure (source, production, site, reason, count, last_seen, example) values (@source, @production, @site, @reason, @count, now(), @example)
                on conflict (source, production, site, reason) do update set
                    last_seen = case when failure.count <> excluded.count then now() else failure.last_seen end, count = excluded.count, example = excluded.example
                """, g, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
    }

    public async Task<IReadOnlyList<FailureGroup>> FailuresAsync(string? source, string? production, string? site, DateTimeOffset since, int limit, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<(string Source, string Production, string Site, string Reason, long Count, DateTime LastSeen, string Example)>(new CommandDefinition("""
            select source, production, site, reason, count, last_seen, example from failure
            where (@source::text is null or source = @source) and (@production::text is null or production = @production)
              and (@site::text is null or site = @site) and last_seen >= @since
            order by last_seen desc, count desc limit @limit
            """, new { source, production, site, since = since.UtcDateTime, limit }, cancellationToken: ct));
        return rows.Select(r => new FailureGroup(r.Source, r.Production.Length > 0 ? r.Production : null, r.Site.Length > 0 ? r.Site : null, r.Reason, r.Count,
            Status.StatusStore.Utc(r.LastSeen), r.Example)).ToList();
    }

    /// <summary>
    /// A failure's text with what differs between alike failures masked: paths and URLs, hex and
    /// UUIDs, numbers. "upload to root://h:1094//belle/x/7.root failed after 30 s" becomes
    /// "upload to &lt;url&gt; failed after &lt;n&gt; s".
    /// </summary>
    public static string Mask(string message)
    {
        var s = Url().Replace(message, "<url>");
        s = PathLike().Replace(s, "<path>");
        s = Uuid().Replace(s, "<id>");
        s = Hex().Replace(s, "<hex>");
        s = Number().Replace(s, "<n>");
        s = s.Trim();
        return s.Length > 300 ? s[..300] : s;
    }

    [GeneratedRegex(@"\b[a-z][a-z0-9+.-]*://[^\s()\[\]]+", RegexOptions.IgnoreCase)] private static partial Regex Url();
    [GeneratedRegex(@"(?<![\w<])/[\w.\-]+(?:/[\w.\-]*)+")] private static partial Regex PathLike();
    [GeneratedRegex(@"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b", RegexOptions.IgnoreCase)] private static partial Regex Uuid();
    [GeneratedRegex(@"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{8,}\b", RegexOptions.IgnoreCase)] private static partial Regex Hex();
    [GeneratedRegex(@"\d+(?:\.\d+)?")] private static partial Regex Number();

    /// <summary>Hourly averages of the last two hours' minutes (run every sample; cheap: an index range per series).</summary>
    public async Task RollupAsync(DateTimeOffset now, CancellationToken ct)
    {
        var since = new DateTime(now.UtcTicks - now.UtcTicks % TimeSpan.TicksPerHour, DateTimeKind.Utc).AddHours(-1);
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            insert into point_hour (series_id, t, v, vmax, n)
            select s.id, h.t, h.v, h.vmax, h.n from series s cross join lateral (
                select date_trunc('hour', p.t) as t, avg(p.v) as v, max(p.v) as vmax, count(*)::int as n
                from point p where p.series_id = s.id and p.t >= @since group by 1) h
            on conflict (series_id, t) do update set v = excluded.v, vmax = excluded.vmax, n = excluded.n
            """, new { since }, cancellationToken: ct));
    }

    /// <summary>Drops minutes past their retention (their hourly averages stay), and hours past theirs.</summary>
    public async Task PruneAsync(TimeSpan minutes, TimeSpan hours, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            delete from point p using series s where p.series_id = s.id and p.t < now() - @minutes;
            delete from point_hour p using series s where p.series_id = s.id and p.t < now() - @hours;
            """, new { minutes, hours }, commandTimeout: 600, cancellationToken: ct));
    }

    /// <summary>Series names with their label names (what can be asked for).</summary>
    public async Task<IReadOnlyDictionary<string, IReadOnlyList<string>>> CatalogueAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<(string Name, string Key)>(new CommandDefinition(
            "select distinct name, k from series, jsonb_object_keys(labels) k order by 1, 2", cancellationToken: ct));
        var names = await conn.QueryAsync<string>(new CommandDefinition("select distinct name from series order by 1", cancellationToken: ct));
        return names.ToDictionary(n => n, n => (IReadOnlyList<string>)rows.Where(r => r.Name == n).Select(r => r.Key).ToList());
    }

    /// <summary>
    /// One chart's data: the series of a name whose labels contain <paramref name="filter"/>, summed
    /// per time bucket and per value of the labels <paramref name="by"/> (comma-separated; one line
    /// each, named by the values joined with "->"; one line in all without it). Minutes for ranges up to two days within the minutes' retention, hours beyond.
    /// </summary>
    public async Task<SeriesResponse> QueryAsync(string name, string? by, IReadOnlyDictionary<string, string> filter, DateTimeOffset from, DateTimeOffset to,
        long? step, TimeSpan minuteRetention, CancellationToken ct)
    {
        var hourly = step switch
        {
            3600 => true,
            60 => false,
            _ => to - from > TimeSpan.FromDays(2) || from < DateTimeOffset.UtcNow - minuteRetention,
        };
        var size = hourly ? 3600L : 60L;
        var first = from.ToUnixTimeSeconds() / size * size;
        var last = (to.ToUnixTimeSeconds() - 1) / size * size;
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<(string Label, long T, double V)>(new CommandDefinition($"""
            with s as materialized (select id, coalesce(array_to_string(array(select labels ->> k from unnest(@keys) with ordinality u(k, i) order by i), '->'), '') as label
                       from series where name = @name and labels @> @filter::jsonb)
            select s.label, extract(epoch from p.t)::bigint, sum(p.v)
            from s join {(hourly ? "point_hour" : "point")} p on p.series_id = s.id
            where p.t >= to_timestamp(@first) and p.t <= to_timestamp(@last)
            group by 1, 2
            """, new { name, keys = by?.Split(',') ?? [], filter = JsonSerializer.Serialize(filter), first, last }, cancellationToken: ct));
        var times = new List<long>();
        for (var t = first; t <= last; t += size) times.Add(t);
        var lines = new SortedDictionary<string, double?[]>(StringComparer.Ordinal);
        foreach (var (label, t, v) in rows)
        {
            if (!lines.TryGetValue(label, out var values)) lines[label] = values = new double?[times.Count];
            var i = (int)((t - first) / size);
            if (i >= 0 && i < values.Length) values[i] = v;
        }
        return new SeriesResponse(name, by, size, times, lines.Select(l => new SeriesLine(l.Key.Length > 0 ? l.Key : name, l.Value)).ToList());
    }

    /// <summary>The values a label takes among a name's series (the productions, the sites, the links), in order.</summary>
    public async Task<IReadOnlyList<string>> LabelValuesAsync(string name, string label, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<string>(new CommandDefinition(
            "select distinct labels ->> @label from series where name = @name and labels ->> @label is not null order by 1", new { name, label }, cancellationToken: ct))).AsList();
    }

    public async Task<string?> CursorAsync(string name, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteScalarAsync<string?>(new CommandDefinition("select value from cursor where name = @name", new { name }, cancellationToken: ct));
    }

    public async Task SetCursorAsync(string name, string value, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("insert into cursor values (@name, @value) on conflict (name) do update set value = excluded.value",
            new { name, value }, cancellationToken: ct));
    }
}
