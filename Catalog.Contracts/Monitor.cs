namespace Catalog.Contracts;

/// <summary>What the active monitor probes: a storage element, the catalog, a service's readiness, or a site's batch queue.</summary>
public enum TargetKind { StorageElement, Catalog, Service, Site }

/// <summary>
/// A probed target's status. Active: healthy. Degraded: a probe failed, nothing switched off yet.
/// Banned: failed BanAfter probes in a row (an SE takes no writes in the catalog). Probing: a banned
/// target passed again, and needs RecoverAfter passes in a row to be Active (still switched off).
/// Draining: a scheduled downtime is near (no new work). Downtime: in a scheduled downtime.
/// </summary>
public enum TargetStatus { Active, Degraded, Banned, Probing, Draining, Downtime }

/// <summary>One step of a probe (upload, stat, read, checksum, delete, register, ...) and how long it took.</summary>
public sealed record ProbeStep(string Name, bool Ok, double Milliseconds, string? Error = null);

/// <summary>One run of a probe against a target: it passes only if every step passed.</summary>
public sealed record ProbeResult(string Target, DateTimeOffset At, bool Ok, double Milliseconds, IReadOnlyList<ProbeStep> Steps, string? Error);

/// <summary>A target, its status, since when and why, and its last probe.</summary>
public sealed record TargetInfo(
    string Name, TargetKind Kind, TargetStatus Status, string? Reason, DateTimeOffset Since,
    int ConsecutiveFailures, int ConsecutivePasses, bool SwitchedOff, ProbeResult? LastProbe);

/// <summary>One recorded status change and why.</summary>
public sealed record StatusChange(string Target, DateTimeOffset At, TargetStatus From, TargetStatus To, string Reason);

/// <summary>
/// A scheduled downtime of a target (an SE, or a site's SE by the site's name): from
/// <c>DrainSeconds</c> before <c>Starts</c> the target takes no new work; until <c>Ends</c> it is down.
/// </summary>
public sealed record DowntimeSpec(string? Target, DateTimeOffset? Starts, DateTimeOffset? Ends, long? DrainSeconds = null, string? Reason = null);

public sealed record Downtime(long Id, string Target, DateTimeOffset Starts, DateTimeOffset Ends, DateTimeOffset DrainFrom, string Reason, string Owner);

/// <summary>Failures grouped by what they say (numbers and paths masked), counted per source, site and production.</summary>
public sealed record FailureGroup(string Source, string? Production, string? Site, string Reason, long Count, DateTimeOffset LastSeen, string Example);

/// <summary>Something wrong now, worst first: red (banned, down, stuck) before amber (degraded, draining).</summary>
public sealed record Alert(string Severity, string Subject, string Message, DateTimeOffset Since, string? Link = null);

/// <summary>The dashboard's first answer: what is wrong now, then every target's status.</summary>
public sealed record Overview(DateTimeOffset At, IReadOnlyList<Alert> Alerts, IReadOnlyList<TargetInfo> Targets, IReadOnlyList<Downtime> Downtimes);

/// <summary>
/// Time series for a chart, aligned on one time axis (Unix seconds): one line per value of the
/// label asked to group by, each the sum over the other labels. <c>Step</c> is 60 (one-minute
/// points) or 3600 (hourly averages, for long ranges and older data).
/// </summary>
public sealed record SeriesResponse(string Name, string? By, long Step, IReadOnlyList<long> Times, IReadOnlyList<SeriesLine> Lines);

public sealed record SeriesLine(string Label, IReadOnlyList<double?> Values);
