using Catalog.Contracts;
using Prometheus;

namespace Catalog.Monitor;

/// <summary>The monitor's own Prometheus metrics (on /metrics): each target's status, its last probe's result and time.</summary>
public sealed class MonitorMetrics
{
    private static readonly Gauge StatusGauge = Metrics.CreateGauge("monitor_target_status",
        "A target's status: 0 active, 1 degraded, 2 banned, 3 probing, 4 draining, 5 downtime", "target");
    private static readonly Gauge ProbeOk = Metrics.CreateGauge("monitor_probe_ok", "1 if the target's last probe passed", "target");
    private static readonly Gauge ProbeSeconds = Metrics.CreateGauge("monitor_probe_seconds", "How long the target's last probe took, by step", "target", "step");
    private static readonly Counter Probes = Metrics.CreateCounter("monitor_probes_total", "Probes run, by target and result", "target", "result");

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
