using System.Net;
using System.Text.RegularExpressions;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Modules;
using Catalog.Monitor.Passive;
using Catalog.Monitor.Probes;
using Catalog.Monitor.Status;
using Microsoft.Extensions.Options;

namespace Catalog.Monitor;

/// <summary>
/// The monitor's REST API, behind every chart of the dashboard: the overview (what is wrong now),
/// targets with their probes and status history, downtimes, series and failure groups. Reading is
/// open to the local host (the dashboard and scrapers on this machine) and to any catalog identity;
/// scheduling downtimes needs an operator (admin, or storage.modify over /).
/// </summary>
public static partial class MonitorApi
{
    public static IEndpointRouteBuilder MapMonitorApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1");
        api.MapGet("/overview", async (HttpContext http, CallerIdentity identity, StatusStore store, SeriesStore series, CancellationToken ct) =>
        {
            await ReadAccessAsync(http, identity);
            var targets = await store.TargetsAsync(ct);
            var downtimes = await store.DowntimesAsync(ct);
            var failures = await series.FailuresAsync(null, null, null, DateTimeOffset.UtcNow.AddHours(-1), 50, ct);
            return new Overview(DateTimeOffset.UtcNow, Alerts(targets, downtimes, failures), targets, downtimes);
        }).WithTags("overview").WithSummary("What is wrong now (red first), every target's status, the downtimes to come");

        api.MapGet("/targets", async (HttpContext http, CallerIdentity identity, StatusStore store, CancellationToken ct) =>
        {
            await ReadAccessAsync(http, identity);
            return await store.TargetsAsync(ct);
        }).WithTags("targets").WithSummary("Every probed target with its status, why, since when, and its last probe");
        api.MapGet("/targets/{name}/probes", async (string name, int? limit, HttpContext http, CallerIdentity identity, StatusStore store, CancellationToken ct) =>
        {
            await ReadAccessAsync(http, identity);
            return await store.ProbesAsync(name, Limit(limit, 100, 10_000), ct);
        }).WithTags("targets").WithSummary("A target's probes, newest first, each step with its time and error");
        api.MapGet("/history", async (string? target, int? limit, HttpContext http, CallerIdentity identity, StatusStore store, CancellationToken ct) =>
        {
            await ReadAccessAsync(http, identity);
            return await store.HistoryAsync(target, Limit(limit, 100, 10_000), ct);
        }).WithTags("targets").WithSummary("Status changes with their reasons, newest first");

        var downtimes = api.MapGroup("/downtimes").WithTags("downtimes");
        downtimes.MapGet("", async (HttpContext http, CallerIdentity identity, StatusStore store, CancellationToken ct) =>
        {
            await ReadAccessAsync(http, identity);
            return await store.DowntimesAsync(ct);
        }).WithSummary("Downtimes not over yet");
        downtimes.MapPost("", async (DowntimeSpec? spec, HttpContext http, CallerIdentity identity, StatusStore store, CatalogClient catalog,
            IOptions<MonitorOptions> options, CancellationToken ct) =>
        {
            var who = await identity.RequireAsync(http, "/");
            if (spec is null) throw ServiceException.Invalid("body", "a downtime (target, starts, ends) is required");
            var target = NormalizeTarget(spec.Target);
            // A typo must not schedule a downtime of nothing: the SE, or an SE of the site, is in the catalog.
            var ses = await catalog.ListStorageElementsAsync(ct);
            if (Targets.SeOf(target) is { } se && ses.All(s => s.Name != se))
                throw ServiceException.Invalid("target", $"no storage element '{se}' is registered in the catalog");
            if (target.StartsWith("site:", StringComparison.Ordinal) && ses.All(s => s.Site != target[5..]))
                throw ServiceException.Invalid("target", $"no storage element of site '{target[5..]}' is registered in the catalog");
            if (spec.Starts is not { } starts) throw ServiceException.Invalid("starts", "is required (ISO 8601, e.g. 2026-12-05T08:00:00Z)");
            if (spec.Ends is not { } ends) throw ServiceException.Invalid("ends", "is required (ISO 8601)");
            if (ends <= starts) throw ServiceException.Invalid("ends", "must be after starts");
            if (ends <= DateTimeOffset.UtcNow) throw ServiceException.Invalid("ends", "is in the past");
            if (spec.DrainSeconds is < 0 or > 7 * 86400) throw ServiceException.Invalid("drainSeconds", "must be 0 to 604800 (a week)");
            var drain = spec.DrainSeconds is { } s ? TimeSpan.FromSeconds(s) : options.Value.DefaultDrain;
            var reason = string.IsNullOrWhiteSpace(spec.Reason) ? "scheduled maintenance" : spec.Reason.Trim();
            if (reason.Length > 500 || reason.Any(char.IsControl)) throw ServiceException.Invalid("reason", "must be at most 500 characters without control characters");
            var created = await store.AddDowntimeAsync(target, starts, ends, starts - drain, reason, who.Subject, ct);
            return Results.Created($"/api/v1/downtimes/{created.Id}", created);
        }).WithSummary("Schedule a downtime: the target drains (no new work) from drainSeconds before it starts, is down until it ends, then probes its way back");
        downtimes.MapDelete("/{id:long}", async (long id, HttpContext http, CallerIdentity identity, StatusStore store, CancellationToken ct) =>
        {
            await identity.RequireAsync(http, "/");
            return await store.RemoveDowntimeAsync(id, ct) ?? throw new ServiceException(ErrorCode.NotFound, $"no downtime {id}", "id");
        }).WithSummary("Remove (or end early) a downtime; the target probes its way back to Active");

        api.MapGet("/series", async (HttpContext http, CallerIdentity identity, SeriesStore series, CancellationToken ct) =>
        {
            await ReadAccessAsync(http, identity);
            return await series.CatalogueAsync(ct);
        }).WithTags("series").WithSummary("The series there are, with their label names");
        api.MapGet("/series/{name}", async (string name, string? by, DateTimeOffset? from, DateTimeOffset? to, long? step, string[]? label,
            HttpContext http, CallerIdentity identity, SeriesStore series, IOptions<MonitorOptions> options, CancellationToken ct) =>
        {
            await ReadAccessAsync(http, identity);
            var end = to ?? DateTimeOffset.UtcNow;
            var start = from ?? end.AddHours(-24);
            if (start >= end) throw ServiceException.Invalid("from", "must be before to");
            if (end - start > TimeSpan.FromDays(400)) throw ServiceException.Invalid("from", "the range may span at most 400 days");
            if (step is not (null or 60 or 3600)) throw ServiceException.Invalid("step", "must be 60 (minutes) or 3600 (hours)");
            if (step == 60 && end - start > TimeSpan.FromDays(7)) throw ServiceException.Invalid("step", "one-minute points for at most 7 days; ask step=3600");
            if (by is not null && (by.Split(',') is var keys && (keys.Length > 4 || !keys.All(LabelName().IsMatch))))
                throw ServiceException.Invalid("by", "must be one to four label names (letters, digits, _), comma-separated");
            var filter = new Dictionary<string, string>();
            foreach (var l in label ?? [])
            {
                if (l.Split(':', 2) is not [var k, var v] || !LabelName().IsMatch(k)) throw ServiceException.Invalid("label", $"'{l}' is not name:value");
                filter[k] = v;
            }
            return await series.QueryAsync(name, by, filter, start, end, step, options.Value.MinuteRetention, ct);
        }).WithTags("series").WithSummary("A chart's data: a series summed per time bucket and per value of the labels 'by' (e.g. site, or source,destination), filtered by label=name:value");

        api.MapGet("/series/{name}/labels/{label}", async (string name, string label, HttpContext http, CallerIdentity identity, SeriesStore series, CancellationToken ct) =>
        {
            await ReadAccessAsync(http, identity);
            if (!LabelName().IsMatch(label)) throw ServiceException.Invalid("label", "must be a label name (letters, digits, _)");
            return await series.LabelValuesAsync(name, label, ct);
        }).WithTags("series").WithSummary("The values a label takes among a series' lines (e.g. every production of 'jobs')");
        api.MapGet("/failures", async (string? source, string? production, string? site, int? hours, int? limit, HttpContext http, CallerIdentity identity,
            SeriesStore series, CancellationToken ct) =>
        {
            await ReadAccessAsync(http, identity);
            if (source is not (null or "job" or "transfer" or "probe")) throw ServiceException.Invalid("source", "must be job, transfer or probe");
            if (hours is < 1 or > 24 * 400) throw ServiceException.Invalid("hours", "must be 1 to 9600");
            return await series.FailuresAsync(source, production, site, DateTimeOffset.UtcNow.AddHours(-(hours ?? 24 * 30)), Limit(limit, 200, 10_000), ct);
        }).WithTags("failures").WithSummary("Failures grouped by their masked text, per source (job, transfer, probe), production and site (for a link: source->destination)");
        return app;
    }

    /// <summary>
    /// What a shifter must look at now, worst first. Red: a banned SE, a service or the catalog
    /// failing its probe, a site whose test job fails. Amber: degraded or recovering targets,
    /// failures in the last hour. Blue: draining and downtimes.
    /// </summary>
    public static IReadOnlyList<Alert> Alerts(IReadOnlyList<TargetInfo> targets, IReadOnlyList<Downtime> downtimes, IReadOnlyList<FailureGroup> failures)
    {
        var alerts = new List<Alert>();
        foreach (var t in targets)
        {
            var link = $"target.html?name={Uri.EscapeDataString(t.Name)}";
            var (severity, message) = t.Status switch
            {
                TargetStatus.Banned => ("red", $"{Describe(t)} is banned: {t.Reason}" + (t.Kind == TargetKind.StorageElement ? " (the catalog takes no new replicas there)" : "")),
                TargetStatus.Degraded when t.Kind != TargetKind.StorageElement => ("red", $"{Describe(t)} fails its probe: {t.LastProbe?.Error ?? t.Reason}"),
                TargetStatus.Degraded => ("amber", $"{Describe(t)} failed its last probe{(t.ConsecutiveFailures > 1 ? $"s ({t.ConsecutiveFailures} in a row)" : "")}: {t.LastProbe?.Error ?? t.Reason}"),
                TargetStatus.Probing => ("amber", $"{Describe(t)} is recovering ({t.ConsecutivePasses} probes passed; still takes no writes)"),
                TargetStatus.Draining => ("blue", $"{Describe(t)} is draining: {t.Reason}"),
                TargetStatus.Downtime => ("blue", $"{Describe(t)} is down: {t.Reason}"),
                _ => ("", ""),
            };
            if (severity.Length > 0) alerts.Add(new Alert(severity, t.Name, message, t.Since, link));
        }
        foreach (var f in failures.Where(f => f.Source != "probe").Take(10))
            alerts.Add(new Alert("amber", f.Source == "job" ? $"jobs of {f.Production} at {f.Site}" : $"transfers {f.Site}",
                $"{f.Count} failed: {f.Reason}", f.LastSeen, f.Source == "job" ? $"production.html?name={Uri.EscapeDataString(f.Production ?? "")}" : $"link.html?link={Uri.EscapeDataString(f.Site ?? "")}"));
        var order = new Dictionary<string, int> { ["red"] = 0, ["amber"] = 1, ["blue"] = 2 };
        return alerts.OrderBy(a => order[a.Severity]).ThenByDescending(a => a.Since).ToList();
    }

    private static string Describe(TargetInfo t) => t.Kind switch
    {
        TargetKind.StorageElement => $"SE {t.Name[3..]}",
        TargetKind.Site => $"site {t.Name[5..]} (test job)",
        TargetKind.Catalog => "the catalog (register, look up, remove)",
        _ => $"the {t.Name[8..]} service",
    };

    /// <summary>A downtime's target: an SE name (KEK-DISK or se:KEK-DISK) or a site (site:KEK, which covers its SEs).</summary>
    private static string NormalizeTarget(string? target)
    {
        if (string.IsNullOrWhiteSpace(target)) throw ServiceException.Invalid("target", "is required: an SE name (KEK-DISK) or a site (site:KEK)");
        target = target.Trim();
        if (!TargetName().IsMatch(target)) throw ServiceException.Invalid("target", $"'{target}' is not an SE name or site:NAME");
        return target.Contains(':') ? target : Targets.Se(target);
    }

    private static int Limit(int? limit, int fallback, int max) =>
        limit is { } l && (l < 1 || l > max) ? throw ServiceException.Invalid("limit", $"must be between 1 and {max}") : limit ?? fallback;

    /// <summary>Reads are open to this host (the dashboard, a local scraper) and to any catalog identity.</summary>
    private static async Task ReadAccessAsync(HttpContext http, CallerIdentity identity)
    {
        if (http.Connection.RemoteIpAddress is { } remote && IPAddress.IsLoopback(remote) && http.Request.Headers.Authorization.Count == 0) return;
        await identity.RequireAsync(http);
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,63}$")] private static partial Regex LabelName();
    [GeneratedRegex("^((se|site):)?[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")] private static partial Regex TargetName();
}
