using Catalog.Contracts;

namespace Catalog.Monitor.Status;

/// <summary>Where a target stands: its status, the probes in a row that failed or passed, and whether the monitor switched it off in the catalog.</summary>
public readonly record struct TargetState(TargetStatus Status, int Failures, int Passes, string? Reason, bool SwitchedOff);

/// <summary>
/// The probe state machine, with hysteresis so alternating results cannot make it flap:
/// <code>
///   Active   --1 failure-------------&gt; Degraded
///   Degraded --BanAfter failures-----&gt; Banned   (switched off: the SE takes no writes)
///   Degraded --RecoverAfter passes---&gt; Active
///   Banned   --1 pass----------------&gt; Probing  (still switched off)
///   Probing  --RecoverAfter passes---&gt; Active   (switched on again)
///   Probing  --BanAfter failures-----&gt; Banned
/// </code>
/// A pass in Degraded or a failure in Probing only resets the other counter, so fail, pass, fail, pass
/// moves Active to Degraded once and then holds. A scheduled downtime overrides it all: Draining
/// before it (switched off, no new work), Downtime during it (probes are recorded but do not count),
/// and Probing after it, as after a ban.
/// </summary>
public static class StatusMachine
{
    public static TargetState Next(TargetState s, bool ok, string? error, int banAfter, int recoverAfter)
    {
        var failures = ok ? 0 : s.Failures + 1;
        var passes = ok ? s.Passes + 1 : 0;
        return s.Status switch
        {
            TargetStatus.Active when !ok => new(TargetStatus.Degraded, failures, 0, $"probe failed: {error}", s.SwitchedOff),
            TargetStatus.Degraded when !ok && failures >= banAfter => new(TargetStatus.Banned, failures, 0, $"{failures} probes failed in a row, the last: {error}", true),
            TargetStatus.Degraded when ok && passes >= recoverAfter => new(TargetStatus.Active, 0, passes, $"{passes} probes passed in a row", false),
            TargetStatus.Banned when ok => new(TargetStatus.Probing, 0, passes, "a probe passed again; switched on after more passes in a row", true),
            TargetStatus.Probing when ok && passes >= recoverAfter => new(TargetStatus.Active, 0, passes, $"{passes} probes passed in a row", false),
            TargetStatus.Probing when !ok && failures >= banAfter => new(TargetStatus.Banned, failures, 0, $"{failures} probes failed in a row, the last: {error}", true),
            // Draining and Downtime are decided by the schedule (Schedule), not by probes.
            _ => s with { Failures = failures, Passes = passes },
        };
    }

    /// <summary>
    /// The schedule's word: entering a downtime's drain or the downtime itself, or leaving it (to
    /// Probing, switched off until the probes pass). Null when the schedule changes nothing.
    /// </summary>
    public static TargetState? Schedule(TargetState s, Downtime? current, DateTimeOffset now)
    {
        if (current is not null && now >= current.Starts && s.Status != TargetStatus.Downtime)
            return new(TargetStatus.Downtime, 0, 0, $"scheduled downtime until {current.Ends:u}: {current.Reason}", true);
        if (current is not null && now < current.Starts && s.Status != TargetStatus.Draining)
            return new(TargetStatus.Draining, 0, 0, $"draining for the downtime from {current.Starts:u}: {current.Reason}", true);
        if (current is null && s.Status is TargetStatus.Draining or TargetStatus.Downtime)
            return new(TargetStatus.Probing, 0, 0, "the downtime ended (or was removed); switched on after probes pass", true);
        return null;
    }
}
