using System.Globalization;
using Catalog.Client;
using Catalog.Contracts;
using Microsoft.Extensions.Options;

namespace Catalog.Monitor.Passive;

/// <summary>
/// The passive monitor: every SampleInterval it reads what the other services say and writes it
/// as one-minute series.
/// <list type="bullet">
/// <item>jobs{production,site,state} (gauge) and job failure groups, from the production service;</item>
/// <item>transfers, transfer_bytes and transfer_failures{source,destination} (counters) and failure groups
///   by reason, from the transfer service's attempts that ended since the last window;</item>
/// <item>registered (files per minute, counter) from the catalog's change feed, catalog_files and
///   catalog_bytes (gauges) from its usage;</item>
/// <item>cache_hit_ratio, api_latency_ms and api_requests from the catalog's /metrics.</item>
/// </list>
/// Counters and the cursor of what they were read up to are written in one transaction.
/// </summary>
public sealed class Sampler(
    CatalogClient catalog, SeriesStore series, MonitorMetrics metrics, IOptions<MonitorOptions> options, ILogger<Sampler> logger) : BackgroundService
{
    private readonly MonitorOptions o = options.Value;
    private readonly ProductionClient? production = options.Value.ProductionUrl is { } p ? new(ServiceHttp(catalog.Http, p)) : null;
    private readonly TransferClient? transfer = options.Value.TransferUrl is { } t ? new(ServiceHttp(catalog.Http, t)) : null;
    private (double Hits, double Misses, double Sum, double Count)? lastMetrics;
    private DateTimeOffset lastPrune;

    /// <summary>A client of another service with the monitor's catalog token (the services take the catalog's identities).</summary>
    private static HttpClient ServiceHttp(HttpClient catalogHttp, Uri baseAddress)
    {
        var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = catalogHttp.DefaultRequestHeaders.Authorization;
        return http;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(o.SampleInterval);
        do
        {
            await SampleAsync(stoppingToken);
        } while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    public async Task SampleAsync(CancellationToken ct)
    {
        // Each source on its own: one that does not answer leaves a gap in its series only.
        await Guard("production", () => JobsAsync(ct), ct);
        await Guard("transfer", () => TransfersAsync(ct), ct);
        await Guard("change feed", () => RegistrationsAsync(ct), ct);
        await Guard("catalog usage", () => SizeAsync(ct), ct);
        await Guard("catalog metrics", () => MetricsAsync(ct), ct);
        var now = DateTimeOffset.UtcNow;
        await Guard("rollup", () => series.RollupAsync(now, ct), ct);
        if (now - lastPrune > TimeSpan.FromHours(1))
        {
            await Guard("prune", () => series.PruneAsync(o.MinuteRetention, o.HourRetention, ct), ct);
            lastPrune = now;
        }
    }

    private async Task Guard(string what, Func<Task> read, CancellationToken ct)
    {
        try { await read(); }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            logger.LogWarning("Reading {What} for the series failed: {Error}", what, e.Message);
        }
    }

    private async Task JobsAsync(CancellationToken ct)
    {
        if (production is null) return;
        var minute = SeriesStore.Minute(DateTimeOffset.UtcNow);
        var points = new List<SeriesPoint>();
        foreach (var p in await production.ListAsync(ct))
        {
            var status = await production.StatusAsync(p.Name, ct);
            foreach (var c in status.BySite)
            {
                points.Add(new SeriesPoint("jobs", new() { ["production"] = p.Name, ["site"] = c.Site, ["state"] = CatalogJson.Name(c.State) }, c.Jobs));
                metrics.JobsNow(p.Name, c.Site, CatalogJson.Name(c.State), c.Jobs);
            }
            var failed = new List<(string, string)>();
            if (status.ByState.GetValueOrDefault(CatalogJson.Name(JobState.Failed)) > 0)
            {
                int? after = null;
                do
                {
                    var page = await production.JobsAsync(p.Name, JobState.Failed, after, 1000, ct);
                    failed.AddRange(page.Jobs.Select(j => (j.Site, $"{(j.FailureClass is { } c ? CatalogJson.Name(c) + ": " : "")}{j.Failure ?? "no reason given"}")));
                    after = page.Next;
                } while (after is not null && failed.Count < 10_000);
            }
            await series.SetJobFailuresAsync(p.Name, failed, ct);
        }
        await series.SetAsync(minute, points, ct);
    }

    private async Task TransfersAsync(CancellationToken ct)
    {
        if (transfer is null) return;
        // Attempts are read in windows [since, until) that end a few seconds back, so an attempt
        // committed late still falls in a window read after it.
        var until = DateTimeOffset.UtcNow.AddSeconds(-5);
        var cursor = await series.CursorAsync("transfer-window", ct);
        if (cursor is null)
        {
            // The first window starts now: what ended before the monitor ever ran is the transfer service's own history.
            await series.SetCursorAsync("transfer-window", until.ToString("O"), ct);
            return;
        }
        var since = DateTimeOffset.Parse(cursor, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
        if (until <= since) return;
        var stats = await transfer.LinkStatsAsync(since, until, ct);
        var minute = SeriesStore.Minute(until);
        var points = new List<(DateTime, SeriesPoint)>();
        foreach (var l in stats.Links)
        {
            var link = new Dictionary<string, string> { ["source"] = l.Source, ["destination"] = l.Destination };
            points.Add((minute, new SeriesPoint("transfers", link, l.Files)));
            points.Add((minute, new SeriesPoint("transfer_bytes", link, l.Bytes)));
            points.Add((minute, new SeriesPoint("transfer_failures", link, l.Failures)));
            foreach (var (reason, n) in l.FailuresByReason)
                await series.CountFailureAsync("transfer", "", $"{l.Source}->{l.Destination}", reason, n, ct);
        }
        await series.AddAsync(points, ("transfer-window", until.ToString("O")), ct);
        foreach (var l in stats.Links) metrics.Transferred(l.Source, l.Destination, l.Files, l.Bytes, l.Failures);
    }

    private async Task RegistrationsAsync(CancellationToken ct)
    {
        var cursor = await series.CursorAsync("change-feed", ct) ?? "latest";
        var probes = o.CatalogProbeDirectory.TrimEnd('/') + "/";
        for (var pages = 0; pages < 50; pages++)
        {
            ChangePage page;
            try { page = await catalog.ChangesAsync(cursor, limit: 10_000, ct: ct); }
            catch (CatalogClientException e) when (e.Code == ErrorCode.ChangesExpired)
            {
                logger.LogWarning("The change feed no longer holds the monitor's cursor (down too long): registrations are counted again from now");
                cursor = "latest";
                continue;
            }
            // The catalog probe's own files are not registrations anyone made.
            var points = page.Changes.Where(c => c.Kind == ChangeKind.FileRegistered && !c.Lfn.StartsWith(probes, StringComparison.Ordinal))
                .Select(c => (SeriesStore.Minute(c.At), new SeriesPoint("registered", [], 1))).ToList();
            await series.AddAsync(points, ("change-feed", page.Next), ct);
            metrics.RegisteredFiles(points.Count);
            if (page.Changes.Count < 10_000 || page.Next == cursor) break;
            cursor = page.Next;
        }
    }

    private async Task SizeAsync(CancellationToken ct)
    {
        long files = 0, bytes = 0;
        foreach (var root in o.CatalogRoots.Count > 0 ? o.CatalogRoots : ["/belle"])
        {
            var usage = await catalog.UsageAsync(root, ct);
            (files, bytes) = (files + usage.Files, bytes + usage.Bytes);
        }
        await series.SetAsync(SeriesStore.Minute(DateTimeOffset.UtcNow), [
            new SeriesPoint("catalog_files", [], files), new SeriesPoint("catalog_bytes", [], bytes),
        ], ct);
        metrics.CatalogSize(files, bytes);
    }

    /// <summary>Deltas of the catalog's cache and request counters since the last sample (a restarted catalog starts a new baseline).</summary>
    private async Task MetricsAsync(CancellationToken ct)
    {
        using var response = await catalog.Http.GetAsync("metrics", ct);
        response.EnsureSuccessStatusCode();
        var now = PrometheusText.Totals(await response.Content.ReadAsStringAsync(ct));
        var last = lastMetrics;
        lastMetrics = now;
        if (last is not { } l || now.Count < l.Count || now.Hits < l.Hits) return;
        var (hits, misses, sum, count) = (now.Hits - l.Hits, now.Misses - l.Misses, now.Sum - l.Sum, now.Count - l.Count);
        var minute = SeriesStore.Minute(DateTimeOffset.UtcNow);
        var gauges = new List<SeriesPoint>();
        if (hits + misses > 0) gauges.Add(new SeriesPoint("cache_hit_ratio", [], hits / (hits + misses)));
        if (count > 0) gauges.Add(new SeriesPoint("api_latency_ms", [], sum / count * 1000));
        await series.SetAsync(minute, gauges, ct);
        await series.AddAsync([(minute, new SeriesPoint("api_requests", [], count))], null, ct);
        metrics.CatalogHealth(hits + misses > 0 ? hits / (hits + misses) : null, count > 0 ? sum / count : null);
    }
}

/// <summary>Reads the totals the monitor needs from a Prometheus text exposition.</summary>
public static class PrometheusText
{
    /// <summary>Cache hits (Redis and local) and misses, and the request-duration histogram's sum and count over every route.</summary>
    public static (double Hits, double Misses, double Sum, double Count) Totals(string text)
    {
        double hits = 0, misses = 0, sum = 0, count = 0;
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#') continue;
            var space = line.LastIndexOf(' ');
            if (space < 0 || !double.TryParse(line[(space + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value)) continue;
            var brace = line.IndexOf('{');
            var name = brace >= 0 ? line[..brace] : line[..space];
            switch (name)
            {
                // prometheus-net's names for the .NET meters (Catalog.Cache, Microsoft.AspNetCore.Hosting), with or without _total.
                case "catalog_cache_hits" or "catalog_cache_hits_total" or "catalog_cache_local_hits" or "catalog_cache_local_hits_total": hits += value; break;
                case "catalog_cache_misses" or "catalog_cache_misses_total": misses += value; break;
                case "microsoft_aspnetcore_hosting_http_server_request_duration_sum" or "http_server_request_duration_seconds_sum": sum += value; break;
                case "microsoft_aspnetcore_hosting_http_server_request_duration_count" or "http_server_request_duration_seconds_count": count += value; break;
            }
        }
        return (hits, misses, sum, count);
    }
}
