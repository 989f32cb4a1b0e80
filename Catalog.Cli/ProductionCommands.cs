using System.CommandLine;
using Catalog.Contracts;

namespace Catalog.Cli;

/// <summary><c>catalog production create|ls|status|jobs|pause|resume|kill|recover|extend</c>: the production service from a shell.</summary>
internal sealed partial class Commands
{
    private Command ProductionCommand()
    {
        var production = new Command("production", "Productions (the production service): define, watch and control them.");
        Examples[production] = "catalog production status mc-mixed-4s";
        var name = new Argument<string>("name") { Description = "The production's name" };

        var nameOpt = new Option<string>("--name") { Description = "The production's name (letters, digits, '_', '.', '-')", Required = true };
        var kind = new Option<ProductionKind>("--kind") { Description = "simulation (events -> files) or processing (an input dataset's files -> files)", DefaultValueFactory = _ => ProductionKind.Simulation };
        var output = new Option<string>("--output") { Description = "The output dataset (LPN), a dataset of its own", Required = true };
        var release = new Option<string?>("--release") { Description = "Software release, e.g. release-08-01-00" };
        var globalTag = new Option<string?>("--global-tag") { Description = "Conditions database global tag" };
        var eventType = new Option<string?>("--event-type") { Description = "MC event type (mixed, charged, uubar, ...)" };
        var campaign = new Option<string?>("--campaign") { Description = "Campaign, e.g. MC15ri" };
        var beam = new Option<string?>("--beam") { Description = "Beam energy (4S, 5S, off-resonance)" };
        var experiment = new Option<int?>("--experiment") { Description = "Experiment number" };
        var runs = new Option<string?>("--runs") { Description = "Run range LOW-HIGH (or one run)" };
        var events = new Option<long?>("--events") { Description = "Total events (simulation)" };
        var perJob = new Option<int?>("--events-per-job") { Description = "Events per job (simulation)" };
        var input = new Option<string?>("--input") { Description = "Input dataset (processing)" };
        var filesPerJob = new Option<int?>("--files-per-job") { Description = "Input files per job (processing)" };
        var level = new Option<string?>("--data-level") { Description = "Output data level (default mdst)" };
        var se = new Option<string?>("--se") { Description = "Destination SE (default: each job's own site's SE)" };
        var sites = new Option<string[]>("--site") { Description = "A site to run at (repeatable; default every site with a writable SE)" };
        var size = new Option<long?>("--output-size") { Description = "Bytes per output file (default 65536)" };
        var hold = new Option<bool>("--hold") { Description = "Define it paused: checked and planned, submitted only after 'production resume'" };
        production.Subcommands.Add(Define("create", "Define a production: checked against the catalog, planned into jobs, then submitted by the service.",
            "catalog production create --name mc-mixed --output /belle/MC/rel8/mixed/mdst --release release-08-01-00 --global-tag main_2024 --events 100000 --events-per-job 1000",
            async (run, ct) =>
            {
                var (low, high) = ParseRuns(run.Get(runs));
                var spec = new ProductionSpec(run.Get(nameOpt), run.Get(kind), run.Get(output), run.Get(release), run.Get(globalTag), run.Get(eventType),
                    run.Get(campaign), run.Get(beam), run.Get(experiment), low, high, run.Get(events), run.Get(perJob), run.Get(input), run.Get(filesPerJob),
                    run.Get(level), run.Get(se), run.Get(sites) is { Length: > 0 } s ? s : null, run.Get(size), run.Get(hold) ? true : null);
                var created = await run.Production.CreateAsync(spec, ct);
                if (run.Json) Output.WriteJson(run.Out, created);
                else run.Out.WriteLine($"production {created.Name}: {Output.Count(created.Jobs)} jobs planned at {string.Join(", ", created.Spec.Sites ?? [])}, writing {created.Spec.OutputDataset}");
                return CatalogCli.Ok;
            }, nameOpt, kind, output, release, globalTag, eventType, campaign, beam, experiment, runs, events, perJob, input, filesPerJob, level, se, sites, size, hold));

        production.Subcommands.Add(Define("ls", "Every production with its state and size.", "catalog production ls", async (run, ct) =>
        {
            foreach (var p in await run.Production.ListAsync(ct))
                if (run.Json) Output.WriteJsonLine(run.Out, p);
                else run.Out.WriteLine($"{p.Name,-28} {Lower(p.State),-8} {Output.Count(p.Jobs),12} jobs  {p.Spec.OutputDataset}");
            return CatalogCli.Ok;
        }));

        production.Subcommands.Add(Define("status", "Jobs by state and site, failures by class.", "catalog production status mc-mixed", async (run, ct) =>
        {
            var s = await run.Production.StatusAsync(run.Get(name)!, ct);
            if (run.Json) { Output.WriteJson(run.Out, s); return CatalogCli.Ok; }
            run.Out.WriteLine($"Production: {s.Name} ({Lower(s.State)}), {Output.Count(s.Jobs)} jobs");
            run.Out.WriteLine("  " + string.Join("  ", s.ByState.Where(kv => kv.Value > 0).Select(kv => $"{kv.Key} {Output.Count(kv.Value)}")));
            foreach (var site in s.BySite.GroupBy(c => c.Site))
                run.Out.WriteLine($"  {site.Key,-8} " + string.Join("  ", site.Select(c => $"{Lower(c.State)} {Output.Count(c.Jobs)}")));
            if (s.FailuresByClass.Count > 0)
                run.Out.WriteLine("  failed by reason: " + string.Join("  ", s.FailuresByClass.Select(kv => $"{kv.Key} {Output.Count(kv.Value)}")));
            return CatalogCli.Ok;
        }, name));

        var state = new Option<JobState?>("--state") { Description = "Only jobs in this state (e.g. failed)" };
        var limit = new Option<int?>("--limit", "-n") { Description = "Print at most this many jobs" };
        production.Subcommands.Add(Define("jobs", "A production's jobs in index order: state, site, attempts, Slurm id, output or failure.",
            "catalog production jobs mc-mixed --state failed", async (run, ct) =>
            {
                var max = run.Get(limit);
                if (max is < 1) throw new CliUsageException("--limit must be at least 1");
                int? after = null;
                var printed = 0;
                do
                {
                    var page = await run.Production.JobsAsync(run.Get(name)!, run.Get(state), after, Math.Min(1000, max - printed ?? 1000), ct);
                    foreach (var j in page.Jobs)
                    {
                        if (run.Json) Output.WriteJsonLine(run.Out, j);
                        else run.Out.WriteLine($"{j.Index,8} {Lower(j.State),-10} {j.Site,-6} attempt {j.Attempts} {(j.SlurmJobId is { } id ? $"slurm {id}" : ""),-12} " +
                            (j.OutputLfn ?? (j.Failure is null ? "" : $"{(j.FailureClass is { } c ? Lower(c) : "")}: {j.Failure}")));
                        printed++;
                    }
                    after = page.Next;
                } while (after is not null && (max is null || printed < max));
                return CatalogCli.Ok;
            }, name, state, limit));

        foreach (var (verb, text) in new[] { ("pause", "Stop submitting its jobs (what runs goes on)."), ("resume", "Submit its jobs again."),
                                             ("kill", "Kill every job not done and cancel them in Slurm.") })
            production.Subcommands.Add(Define(verb, text, $"catalog production {verb} mc-mixed", async (run, ct) =>
            {
                var p = verb switch
                {
                    "pause" => await run.Production.PauseAsync(run.Get(name)!, ct),
                    "resume" => await run.Production.ResumeAsync(run.Get(name)!, ct),
                    _ => await run.Production.KillAsync(run.Get(name)!, ct),
                };
                if (run.Json) Output.WriteJson(run.Out, p); else run.Out.WriteLine($"production {p.Name}: {Lower(p.State)}");
                return CatalogCli.Ok;
            }, name));

        var more = new Option<long>("--events") { Description = "Events to add", Required = true };
        production.Subcommands.Add(Define("extend", "Add events to a simulation (new jobs follow the last).", "catalog production extend mc-mixed --events 50000",
            async (run, ct) =>
            {
                var p = await run.Production.ExtendAsync(run.Get(name)!, run.Get(more), ct);
                if (run.Json) Output.WriteJson(run.Out, p); else run.Out.WriteLine($"production {p.Name}: {Output.Count(p.Jobs)} jobs, {Lower(p.State)}");
                return CatalogCli.Ok;
            }, name, more));

        production.Subcommands.Add(Define("recover", "Plan again the jobs whose output the catalog lacks (the catalog is the truth).", "catalog production recover mc-mixed",
            async (run, ct) =>
            {
                var r = await run.Production.RecoverAsync(run.Get(name)!, ct);
                if (run.Json) Output.WriteJson(run.Out, r);
                else run.Out.WriteLine($"{r.Resubmitted} jobs planned again, {r.FoundInCatalog} found registered after all, {r.OverLimit} over their attempt limit");
                return CatalogCli.Ok;
            }, name));
        return production;
    }

    private static (int? Low, int? High) ParseRuns(string? runs)
    {
        if (runs is null) return (null, null);
        var parts = runs.Split('-', 2);
        if (!int.TryParse(parts[0], out var low) || low < 0 || (parts.Length == 2 && (!int.TryParse(parts[1], out var high) || high < low)))
            throw new CliUsageException($"--runs: '{runs}' is not a run range such as 0-120");
        return (low, parts.Length == 2 ? int.Parse(parts[1]) : low);
    }
}
