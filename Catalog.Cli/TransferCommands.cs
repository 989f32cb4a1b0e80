using System.CommandLine;
using Catalog.Contracts;

namespace Catalog.Cli;

/// <summary><c>catalog rule add|ls|info|rm|suspend|resume</c>, <c>catalog transfer ls|stats</c>, <c>catalog consistency SE</c>: the transfer service from a shell.</summary>
internal sealed partial class Commands
{
    private Command RuleCommand()
    {
        var rule = new Command("rule", "Replication rules (the transfer service): N copies of a dataset, collection, prefix or query on SEs matching an expression.");
        Examples[rule] = "catalog rule add --dataset /belle/Raw/e0026 --copies 1 --se 'region=europe'";
        var id = new Argument<long>("id") { Description = "The rule's id" };

        var dataset = new Option<string?>("--dataset") { Description = "The files of this dataset (and files added to it later)" };
        var collection = new Option<string?>("--collection") { Description = "The files of this collection's datasets" };
        var prefix = new Option<string?>("--prefix") { Description = "The files under this directory" };
        var query = new Option<string?>("--query") { Description = "The files a metadata query matches (evaluated again every 10 minutes)" };
        var under = new Option<string?>("--under") { Description = "Where --query looks (default /)" };
        var copies = new Option<int>("--copies") { Description = "How many copies on matching SEs", DefaultValueFactory = _ => 1 };
        var se = new Option<string>("--se") { Description = "SE expression: NAME, key=value, key!=value, tier<2, & (and), | (or), \\ (but not), ( )", Required = true };
        var lifetime = new Option<string?>("--lifetime") { Description = "Expire after 90m, 12h, 30d (default: never); its copies then go unless another rule holds them" };
        var priority = new Option<int?>("--priority") { Description = "1 (lowest) to 5 (highest), default 3" };
        var comment = new Option<string?>("--comment") { Description = "Why the rule exists" };
        rule.Subcommands.Add(Define("add", "Add a rule: checked against the catalog, evaluated into locks and transfers before it answers.",
            "catalog rule add --dataset /belle/Raw/e0026 --copies 1 --se DESY-DISK --lifetime 30d", async (run, ct) =>
            {
                var life = run.Get(lifetime) is { } l ? (long?)ParseLifetime(l, "--lifetime").TotalSeconds : null;
                var r = await run.Transfer.AddRuleAsync(new RuleSpec(run.Get(dataset), run.Get(collection), run.Get(prefix), run.Get(query), run.Get(under),
                    run.Get(copies), run.Get(se), life, run.Get(priority), run.Get(comment)), ct);
                if (run.Json) Output.WriteJson(run.Out, r);
                else run.Out.WriteLine($"rule {r.Id}: {Output.Count(r.Files)} files, {r.Copies} cop{(r.Copies == 1 ? "y" : "ies")} on {string.Join(", ", r.Targets)}: " +
                    $"{Output.Count(r.LocksOk)} there, {Output.Count(r.LocksReplicating)} to copy");
                return CatalogCli.Ok;
            }, dataset, collection, prefix, query, under, copies, se, lifetime, priority, comment));

        var account = new Option<string?>("--account") { Description = "Only this account's rules" };
        rule.Subcommands.Add(Define("ls", "Rules with their state and locks.", "catalog rule ls", async (run, ct) =>
        {
            foreach (var r in await run.Transfer.ListRulesAsync(run.Get(account), ct))
                if (run.Json) Output.WriteJsonLine(run.Out, r);
                else run.Out.WriteLine($"{r.Id,6} {Lower(r.State),-11} {r.Copies}x {r.SeExpression,-20} {Output.Count(r.LocksOk),9} ok {Output.Count(r.LocksReplicating),9} copying {Output.Count(r.LocksStuck),7} stuck  {r.SelectorKind} {r.Selector}");
            return CatalogCli.Ok;
        }, account));

        rule.Subcommands.Add(Define("info", "A rule, its locks, and why stuck ones are stuck.", "catalog rule info 12", async (run, ct) =>
        {
            var d = await run.Transfer.GetRuleAsync(run.Get(id), ct);
            if (run.Json) { Output.WriteJson(run.Out, d); return CatalogCli.Ok; }
            var r = d.Rule;
            run.Out.WriteLine($"Rule {r.Id} ({Lower(r.State)}), account {r.Account}, priority {r.Priority}");
            run.Out.WriteLine($"  files:    {r.SelectorKind} {r.Selector} ({Output.Count(r.Files)} files)");
            run.Out.WriteLine($"  copies:   {r.Copies} on {r.SeExpression} -> {string.Join(", ", r.Targets)}");
            run.Out.WriteLine($"  locks:    {Output.Count(r.LocksOk)} ok, {Output.Count(r.LocksReplicating)} replicating, {Output.Count(r.LocksStuck)} stuck");
            run.Out.WriteLine($"  expires:  {(r.ExpiresAt is { } e ? Output.Time(e) : "never")}");
            if (r.Comment is not null) run.Out.WriteLine($"  comment:  {r.Comment}");
            foreach (var (reason, count) in d.StuckReasons) run.Out.WriteLine($"  stuck {Output.Count(count)}: {reason}");
            foreach (var s in d.Stuck.Take(20)) run.Out.WriteLine($"    {s.Lfn} -> {s.Se}: {s.Reason} (retry {(s.NextRetry is { } n ? Output.Time(n) : "-")})");
            return CatalogCli.Ok;
        }, id));

        rule.Subcommands.Add(Define("rm", "Remove a rule; replicas no other rule holds are deleted (never a file's last).", "catalog rule rm 12", async (run, ct) =>
        {
            var r = await run.Transfer.RemoveRuleAsync(run.Get(id), ct);
            if (run.Json) Output.WriteJson(run.Out, r); else run.Out.WriteLine($"rule {r.Id} removed; replicas only it held are being deleted");
            return CatalogCli.Ok;
        }, id));

        foreach (var (verb, suspend) in new[] { ("suspend", true), ("resume", false) })
            rule.Subcommands.Add(Define(verb, suspend ? "No new transfers for this rule." : "Transfers for this rule again.", $"catalog rule {verb} 12", async (run, ct) =>
            {
                var r = await run.Transfer.SuspendRuleAsync(run.Get(id), suspend, ct);
                if (run.Json) Output.WriteJson(run.Out, r); else run.Out.WriteLine($"rule {r.Id}: {Lower(r.State)}");
                return CatalogCli.Ok;
            }, id));
        return rule;
    }

    private Command TransferCommand()
    {
        var transfer = new Command("transfer", "Transfers (the transfer service): the queue and the per-link statistics.");
        Examples[transfer] = "catalog transfer stats";
        var state = new Option<TransferState?>("--state") { Description = "Only transfers in this state (queued, active, done, stuck, canceled)" };
        var rule = new Option<long?>("--rule") { Description = "Only the transfers of this rule" };
        var limit = new Option<int>("--limit", "-n") { Description = "Print at most this many", DefaultValueFactory = _ => 50 };
        transfer.Subcommands.Add(Define("ls", "Transfers, newest first, with the reason of their last failure.", "catalog transfer ls --state stuck", async (run, ct) =>
        {
            if (run.Get(limit) is < 1 or > 10_000) throw new CliUsageException("--limit must be 1 to 10000");
            var page = await run.Transfer.ListTransfersAsync(run.Get(state), run.Get(rule), null, run.Get(limit), ct);
            foreach (var t in page.Transfers)
                if (run.Json) Output.WriteJsonLine(run.Out, t);
                else run.Out.WriteLine($"{t.Id,8} {Lower(t.State),-8} {t.Source ?? "-",-10} -> {t.Destination,-10} try {t.Attempts}  {t.Lfn}{(t.Reason is null ? "" : "  " + t.Reason)}");
            return CatalogCli.Ok;
        }, state, rule, limit));

        var since = new Option<string>("--since") { Description = "The window: 90m, 12h, 7d back from now", DefaultValueFactory = _ => "24h" };
        transfer.Subcommands.Add(Define("stats", "Per link and direction: files, bytes, throughput, failures by reason, concurrency now.", "catalog transfer stats --since 1h",
            async (run, ct) =>
            {
                var window = ParseLifetime(run.Get(since)!, "--since");
                var stats = await run.Transfer.LinkStatsAsync(DateTimeOffset.UtcNow - window, ct);
                if (run.Json) { Output.WriteJson(run.Out, stats); return CatalogCli.Ok; }
                run.Out.WriteLine($"{"link",-26} {"files",9} {"bytes",10} {"rate",12} {"failed",7} {"streams",8}  failures by reason");
                foreach (var l in stats.Links)
                    run.Out.WriteLine($"{l.Source + " -> " + l.Destination,-26} {Output.Count(l.Files),9} {Output.Bytes(l.Bytes),10} {Output.Bytes((long)l.BytesPerSecond) + "/s",12} " +
                        $"{Output.Count(l.Failures),7} {l.Active + "/" + l.Concurrency,8}  {string.Join(", ", l.FailuresByReason.Select(kv => $"{kv.Key} {kv.Value}"))}");
                if (stats.Links.Count == 0) run.Out.WriteLine($"(no transfer finished since {Output.Time(stats.Since)})");
                return CatalogCli.Ok;
            }, since));
        return transfer;
    }

    private Command ConsistencyCommand()
    {
        var se = new Argument<string>("se") { Description = "The SE to check" };
        var repair = new Option<bool>("--repair") { Description = "Mark lost replicas bad (rules then copy them again) and delete dark files older than --grace" };
        var grace = new Option<string>("--grace") { Description = "Dark files younger than this are left alone (uploads in flight)", DefaultValueFactory = _ => "1d" };
        var checksums = new Option<bool>("--checksums") { Description = "Also ask the SE for each file's Adler-32 and compare it with the catalog's (the SE reads every file)" };
        var sample = new Option<int?>("--checksum-sample") { Description = "Compare the checksums of this many files, chosen at random, instead of all" };
        return Define("consistency", "Compare an SE's files with the catalog's replicas there: dark (SE only) and lost (catalog only, or another size or checksum).",
            "catalog consistency DESY-DISK --checksum-sample 1000 --repair", async (run, ct) =>
            {
                var r = await run.Transfer.CheckConsistencyAsync(run.Get(se)!, new ConsistencyRequest(run.Get(repair),
                    (long)ParseLifetime(run.Get(grace)!, "--grace").TotalSeconds, run.Get(checksums), run.Get(sample)), ct);
                if (run.Json) { Output.WriteJson(run.Out, r); return CatalogCli.Ok; }
                run.Out.WriteLine($"{r.Se}: {Output.Count(r.SeFiles)} files on the SE, {Output.Count(r.CatalogReplicas)} replicas in the catalog, checked in {r.Seconds:0.0} s");
                run.Out.WriteLine($"  dark (on the SE only): {Output.Count(r.Dark.Count)}" + (r.Dark.Count > 0 ? ", e.g. " + string.Join(", ", r.Dark.Take(3)) : ""));
                run.Out.WriteLine($"  lost (in the catalog only, or another size or checksum): {Output.Count(r.Lost.Count)}" + (r.Lost.Count > 0 ? ", e.g. " + string.Join(", ", r.Lost.Take(3).Select(l => $"{l.Lfn} ({l.Reason})")) : ""));
                if (r.ChecksumsCompared + r.ChecksumsUnreadable > 0)
                    run.Out.WriteLine($"  checksums compared: {Output.Count(r.ChecksumsCompared)}" + (r.ChecksumsUnreadable > 0 ? $" ({Output.Count(r.ChecksumsUnreadable)} the SE did not give)" : ""));
                if (run.Get(repair)) run.Out.WriteLine($"  repaired: {r.DarkDeleted} dark files deleted, {r.LostMarkedBad} lost replicas marked bad, {r.LostRequeued} to copy again for rules");
                return CatalogCli.Ok;
            }, se, repair, grace, checksums, sample);
    }
}
