using Catalog.Contracts;
using Prometheus;

namespace Catalog.Monitor;

/// <summary>
/// The monitor's Prometheus metrics (on /metrics): each target's status and last probe, and the
/// passive series as they are read (jobs by production, site and state; transfers, bytes and
/// failures per link; registrations; catalog size; the catalog's cache hit ratio and latency), so a
/// Prometheus and Grafana can chart what the dashboard charts.
/// </summary>
public sealed class MonitorMetrics
{
    private static readonly Gauge StatusGauge = Metrics.CreateGauge("monitor_target_status",
        "A target's status: 0 active, 1 degraded, 2 banned, 3 probing, 4 draining, 5 downtime", "target");
    private static readonly Gauge ProbeOk = Metrics.CreateGauge("monitor_probe_ok", "1 if the target's last probe passed", "target");
    private static readonly Gauge ProbeSeconds = Metrics.CreateGauge("monitor_probe_seconds", "How long the target's last probe took, by step", "target", "step");
    private static readonly Counter Probes = Metrics.CreateCounter("monitor_probes_total", "Probes run, by target and result", "target", "result");

    private static readonly Gauge Jobs = Metrics.CreateGauge("monitor_jobs", "Jobs by production, site and state (from the production service)", "production", "site", "state");
    private static readonly Counter Transfers = Metrics.CreateCounter("monitor_transfers_total", "Copies that succeeded, per link (from the transfer service)", "source", "destination");
    private static readonly Counter TransferBytes = Metrics.CreateCounter("monitor_transfer_bytes_total", "Bytes copied, per link", "source", "destination");
    private static readonly Counter TransferFailures = Metrics.CreateCounter("monitor_transfer_failures_total", "Copies that failed, per link", "source", "destination");
    private static readonly Counter Registered = Metrics.CreateCounter("monitor_registered_files_total", "Files registered in the catalog (from its change feed)");
    private static readonly Gauge CatalogFiles = Metrics.CreateGauge("monitor_catalog_files", "Files in the catalog");
    private static readonly Gauge CatalogBytes = Metrics.CreateGauge("monitor_catalog_bytes", "Bytes of the catalog's files");
    private static readonly Gauge CacheHitRatio = Metrics.CreateGauge("monitor_catalog_cache_hit_ratio", "The catalog's cache hits over hits and misses, last sample");
    private static readonly Gauge ApiLatency = Metrics.CreateGauge("monitor_catalog_api_latency_seconds", "The catalog's mean request time, last sample");

    public void JobsNow(string production, string site, string state, double jobs) => Jobs.WithLabels(production, site, state).Set(jobs);

    public void Transferred(string source, string destination, double files, double bytes, double failures)
    {
        Transfers.WithLabels(source, destination).Inc(files);
        TransferBytes.WithLabels(source, destination).Inc(bytes);
        TransferFailures.WithLabels(source, destination).Inc(failures);
    }

    public void RegisteredFiles(double files) => Registered.Inc(files);

    public void CatalogSize(double files, double bytes)
    {
        CatalogFiles.Set(files);
        CatalogBytes.Set(bytes);
    }

    public void CatalogHealth(double? hitRatio, double? latencySeconds)
    {
        if (hitRatio is { } r) CacheHitRatio.Set(r);
        if (latencySeconds is { } l) ApiLatency.Set(l);
    }

    public void Probed(ProbeResult result, TargetStatus status)
    {
        ProbeOk.WithLabels(result.Target).Set(result.Ok ? 1 : 0);
        ProbeSeconds.WithLabels(result.Target, "total").Set(result.Milliseconds / 1000);
        foreach (var step in result.Steps) ProbeSeconds.WithLabels(result.Target, step.Name).Set(step.Milliseconds / 1000);
        Probes.WithLabels(result.Target, result.Ok ? "pass" : "fail").Inc();
        Status(result.Target, status);
    }

    public void Status(string target, TargetStatus status) => StatusGauge.WithLabels(target).Set((int)status);
}
