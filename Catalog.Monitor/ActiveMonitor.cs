using Catalog.Client;
using Catalog.Contracts;
using Catalog.Grid;
using Catalog.Monitor.Passive;
using Catalog.Monitor.Probes;
using Catalog.Monitor.Status;
using Microsoft.Extensions.Options;

namespace Catalog.Monitor;

/// <summary>
/// The active monitor: every ProbeInterval it probes every SE the catalog lists, the catalog,
/// each service's readiness and each Slurm partition (site), all at once; records the results,
/// moves each target's status (StatusMachine), applies the downtime schedule, and switches SEs
/// in the catalog's registry to match their status.
/// </summary>
public sealed class ActiveMonitor(
    CatalogClient catalog, StatusStore store, SeriesStore series, SeProbe seProbe, CatalogProbe catalogProbe, ServiceProbe serviceProbe,
    SiteProbe siteProbe, MonitorMetrics metrics, IOptions<MonitorOptions> options, ILogger<ActiveMonitor> logger) : BackgroundService
{
    private readonly MonitorOptions o = options.Value;
    private IReadOnlyList<StorageElement> ses = [];
    private readonly Dictionary<string, Task> siteRuns = new(StringComparer.Ordinal);
    private DateTimeOffset lastPrune;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(o.ProbeInterval);
        do
        {
            try { await CycleAsync(stoppingToken); }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested) { logger.LogWarning(e, "A probe cycle failed; the next one runs in {Interval}", o.ProbeInterval); }
        } while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    public async Task CycleAsync(CancellationToken ct)
    {
        try { ses = (await catalog.ListStorageElementsAsync(ct)).Where(s => s.Protocol == "root").ToList(); }
        catch (Exception e) when (e is HttpRequestException or TimeoutException or CatalogClientException) { logger.LogWarning("The catalog's SE list could not be read ({Error}); probing the SEs known before", e.Message); }

        var probes = new List<Task<(ProbeResult, TargetKind)>>();
        foreach (var se in ses) probes.Add(Run(seProbe.RunAsync(se, ct), TargetKind.StorageElement));
        probes.Add(Run(catalogProbe.RunAsync(ct), TargetKind.Catalog));
        probes.Add(Run(serviceProbe.RunAsync("catalog", o.CatalogUrl, ct), TargetKind.Service));
        if (o.ProductionUrl is { } production) probes.Add(Run(serviceProbe.RunAsync("production", production, ct), TargetKind.Service));
        if (o.TransferUrl is { } transfer) probes.Add(Run(serviceProbe.RunAsync("transfer", transfer, ct), TargetKind.Service));
        // A site's test job waits in its Slurm queue for as long as it must (SiteJobTimeout): it runs on
        // its own, recorded when it ends, so a slow queue never holds up the SE and catalog probes.
        foreach (var site in await SitesAsync(ct))
        {
            if (siteRuns.TryGetValue(site, out var running) && !running.IsCompleted) continue;
            var se = ses.Where(s => s.Site == site).OrderBy(s => s.Name, StringComparer.Ordinal).FirstOrDefault();
            siteRuns[site] = Task.Run(async () =>
            {
                try { await RecordAsync(await siteProbe.RunAsync(site, se, ct), TargetKind.Site, ct); }
                catch (Exception e) when (!ct.IsCancellationRequested) { logger.LogWarning(e, "The probe of site {Site} failed to run", site); }
            }, ct);
        }

        foreach (var (result, kind) in await Task.WhenAll(probes)) await RecordAsync(result, kind, ct);

        foreach (var change in await store.ApplyScheduleAsync(CurrentDowntime, ct))
        {
            logger.LogWarning("{Target}: {From} -> {To} ({Reason})", change.Target, change.From, change.To, change.Reason);
            metrics.Status(change.Target, change.To);
        }
        await SwitchAsync(ct);
        if (DateTimeOffset.UtcNow - lastPrune > TimeSpan.FromHours(1))
        {
            // Probe results are kept as long as the one-minute series; their hourly averages stay.
            await store.PruneAsync(o.MinuteRetention, ct);
            lastPrune = DateTimeOffset.UtcNow;
        }
    }

    /// <summary>Stores a probe, moves its target's status, and writes its one-minute points and failure group.</summary>
    private async Task RecordAsync(ProbeResult result, TargetKind kind, CancellationToken ct)
    {
        var (from, to, reason) = await store.RecordAsync(result, kind, o.BanAfter, o.RecoverAfter, ct);
        if (from != to) logger.LogWarning("{Target}: {From} -> {To} ({Reason})", result.Target, from, to, reason);
        metrics.Probed(result, to);
        await series.SetAsync(SeriesStore.Minute(result.At), [
            new SeriesPoint("probe_ms", new() { ["target"] = result.Target }, result.Milliseconds),
            new SeriesPoint("probe_ok", new() { ["target"] = result.Target }, result.Ok ? 1 : 0),
        ], ct);
        if (!result.Ok) await series.CountFailureAsync("probe", "", SiteOf(result.Target), result.Error ?? "failed", 1, ct);
    }

    private static async Task<(ProbeResult, TargetKind)> Run(Task<ProbeResult> probe, TargetKind kind) => (await probe, kind);

    /// <summary>The site a target concerns (an SE's site, a site probe's partition), for grouping failures.</summary>
    private string SiteOf(string target) =>
        Targets.SeOf(target) is { } se ? ses.FirstOrDefault(s => s.Name == se)?.Site ?? "" : target.StartsWith("site:", StringComparison.Ordinal) ? target[5..] : "";

    private async Task<IReadOnlyList<string>> SitesAsync(CancellationToken ct)
    {
        if (string.IsNullOrEmpty(o.SlurmConf)) return [];
        var (code, output) = await Tool.RunAsync("sinfo", ["--noheader", "--format=%R"], new Dictionary<string, string> { ["SLURM_CONF"] = o.SlurmConf }, ct);
        if (code != 0) { logger.LogWarning("sinfo failed ({Code}): {Output}", code, output.Trim()); return []; }
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct().Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>The downtime (draining or running) that covers a target now: its own, or its site's for an SE.</summary>
    private Downtime? CurrentDowntime(string target, IReadOnlyList<Downtime> downtimes)
    {
        var now = DateTimeOffset.UtcNow;
        var site = Targets.SeOf(target) is { } se ? ses.FirstOrDefault(s => s.Name == se)?.Site : null;
        return downtimes.Where(d => d.DrainFrom <= now && now < d.Ends && (d.Target == target || (site is not null && d.Target == Targets.Site(site))))
            .OrderBy(d => d.Starts).FirstOrDefault();
    }

    /// <summary>
    /// Makes the catalog's registry say what each SE's status asks: banned, probing or draining SEs
    /// take no writes (and are marked degraded), SEs in downtime neither reads nor writes (offline);
    /// an SE the monitor switched off is switched on again when Active. An operator's own settings
    /// are never turned on by the monitor: it only undoes what it did.
    /// </summary>
    private async Task SwitchAsync(CancellationToken ct)
    {
        foreach (var (target, wanted, applied) in await store.SwitchesDueAsync(ct))
        {
            var name = Targets.SeOf(target)!;
            try
            {
                var se = await catalog.GetStorageElementAsync(name, ct);
                var spec = wanted switch
                {
                    "no-writes" => new StorageElementSpec(se.Site, se.Protocol, se.BaseUrl, ReadEnabled: applied == "down" || se.ReadEnabled, WriteEnabled: false,
                        State: StorageElementState.Degraded),
                    "down" => new StorageElementSpec(se.Site, se.Protocol, se.BaseUrl, ReadEnabled: false, WriteEnabled: false, State: StorageElementState.Offline),
                    _ => new StorageElementSpec(se.Site, se.Protocol, se.BaseUrl, ReadEnabled: true, WriteEnabled: true, State: StorageElementState.Online),
                };
                await catalog.PutStorageElementAsync(name, spec, ct);
                await store.MarkAppliedAsync(target, wanted, ct);
                logger.LogWarning("{Se} switched in the catalog: {What}", name, wanted.Length == 0 ? "on again (reads and writes)" : wanted == "down" ? "offline (no reads, no writes)" : "no writes");
            }
            catch (CatalogNotFoundException)
            {
                await store.MarkAppliedAsync(target, wanted, ct);
            }
            catch (Exception e) when (e is HttpRequestException or TimeoutException or CatalogClientException)
            {
                logger.LogWarning("{Se} could not be switched in the catalog ({Error}); tried again next cycle", name, e.Message);
            }
        }
    }
}
