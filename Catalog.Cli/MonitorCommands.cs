using System.CommandLine;
using Catalog.Contracts;

namespace Catalog.Cli;

/// <summary><c>catalog monitor</c> (what is wrong now, every target) and <c>catalog downtime add|ls|rm</c>: the monitor from a shell.</summary>
internal sealed partial class Commands
{
    private Command MonitorCommand()
    {
        var monitor = Define("monitor", "What is wrong now (red first) and every probed target's status (the monitor; its dashboard has the charts).",
            "catalog monitor", async (run, ct) =>
            {
                var o = await run.Monitor.OverviewAsync(ct);
                if (run.Json) { Output.WriteJson(run.Out, o); return CatalogCli.Ok; }
                run.Out.WriteLine(o.Alerts.Count == 0 ? $"All {o.Targets.Count} probed targets are healthy and nothing failed in the last hour." : "Now:");
                foreach (var a in o.Alerts) run.Out.WriteLine($"  {a.Severity.ToUpperInvariant(),-5} {a.Subject}: {a.Message} (since {Output.Time(a.Since)})");
                run.Out.WriteLine();
                foreach (var t in o.Targets)
                    run.Out.WriteLine($"{t.Name,-22} {Lower(t.Status),-9} {(t.LastProbe is { } p ? (p.Ok ? $"probe ok, {p.Milliseconds:0} ms" : $"probe failed: {p.Error}") : "not probed yet")}");
                foreach (var d in o.Downtimes) run.Out.WriteLine($"downtime {d.Id}: {d.Target} from {Output.Time(d.Starts)} to {Output.Time(d.Ends)} (draining from {Output.Time(d.DrainFrom)}): {d.Reason}");
                run.Out.WriteLine($"dashboard: {run.MonitorUrl}/");
                return CatalogCli.Ok;
            });
        return monitor;
    }

    private Command DowntimeCommand()
    {
        var downtime = new Command("downtime", "Scheduled downtimes of SEs and sites (the monitor): the SE drains (takes no new work) before, is down during, and probes its way back after.");
        Examples[downtime] = "catalog downtime add KEK-DISK --from 2026-12-05T08:00:00Z --to 2026-12-05T12:00:00Z --reason 'disk replacement'";
        var target = new Argument<string>("target") { Description = "An SE (KEK-DISK) or a site (site:KEK: its SEs too)" };
        var from = new Option<DateTimeOffset>("--from") { Description = "When it starts (ISO 8601, UTC: 2026-12-05T08:00:00Z)", Required = true };
        var to = new Option<DateTimeOffset>("--to") { Description = "When it ends", Required = true };
        var drain = new Option<string?>("--drain") { Description = "How long before it no new work goes there: 30m, 2h (default 2h)" };
        var reason = new Option<string?>("--reason") { Description = "Why (shown on the dashboard)" };
        downtime.Subcommands.Add(Define("add", "Schedule a downtime.", "catalog downtime add DESY-DISK --from 2026-12-05T08:00:00Z --to 2026-12-05T10:00:00Z --drain 1h", async (run, ct) =>
        {
            var d = await run.Monitor.AddDowntimeAsync(new DowntimeSpec(run.Get(target), run.Get(from), run.Get(to),
                run.Get(drain) is { } l ? (long)ParseLifetime(l, "--drain").TotalSeconds : null, run.Get(reason)), ct);
            if (run.Json) Output.WriteJson(run.Out, d);
            else run.Out.WriteLine($"downtime {d.Id}: {d.Target} drains from {Output.Time(d.DrainFrom)}, down {Output.Time(d.Starts)} to {Output.Time(d.Ends)}");
            return CatalogCli.Ok;
        }, target, from, to, drain, reason));
        downtime.Subcommands.Add(Define("ls", "Downtimes not over yet.", "catalog downtime ls", async (run, ct) =>
        {
            foreach (var d in await run.Monitor.DowntimesAsync(ct))
                if (run.Json) Output.WriteJsonLine(run.Out, d);
                else run.Out.WriteLine($"{d.Id,5} {d.Target,-18} {Output.Time(d.Starts)} to {Output.Time(d.Ends)}  drains from {Output.Time(d.DrainFrom)}  {d.Reason} ({d.Owner})");
            return CatalogCli.Ok;
        }));
        var id = new Argument<long>("id") { Description = "The downtime's id" };
        downtime.Subcommands.Add(Define("rm", "Remove a downtime (or end it now): the target probes its way back.", "catalog downtime rm 3", async (run, ct) =>
        {
            var d = await run.Monitor.RemoveDowntimeAsync(run.Get(id), ct);
            if (run.Json) Output.WriteJson(run.Out, d); else run.Out.WriteLine($"downtime {d.Id} of {d.Target} removed");
            return CatalogCli.Ok;
        }, id));
        return downtime;
    }
}
