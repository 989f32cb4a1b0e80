using System.Diagnostics;
using System.Text.Json.Nodes;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Grid;

namespace Catalog.LoadTests;

/// <summary>
/// The transfer system against a running ./run.sh (catalog, grid, transfer service):
/// 1. copy: --files files of --size bytes written to KEK-DISK and registered in a dataset, a rule
///    copying them to DESY-DISK, files/s from the rule's creation until it is OK (every copy
///    verified and registered); beside plain <c>xrdcp --tpc only</c> of the same files from
///    KEK-DISK to PNNL-DISK at --concurrency copies at once (no catalog, no verification);
/// 2. evaluation: --eval-files files (0 bytes) registered on KEK-DISK in a dataset, a rule over
///    them whose copies are all there already (KEK-DISK): the time until the rule is made (files
///    read, locks written), beside reading the same files and replicas through the same client
///    calls (query stream and bulk lookups) without writing anything;
/// 3. consistency: the same files created in KEK-DISK's folder, a consistency check of KEK-DISK,
///    beside the SE's own recursive listing (<c>xrdfs ls -R -l</c>) alone.
/// </summary>
public static class TransferBench
{
    public static async Task<int> RunAsync(Options o, Uri transferUrl, string data, int evalFiles, int size, string? evalDataset = null)
    {
        var run = DateTime.UtcNow.ToString("MMddHHmmss");
        var catalog = o.CreateClient();
        var transfer = TransferClient.Create(transferUrl, o.Token, TimeSpan.FromMinutes(30));
        var grid = File.ReadAllLines(Path.Combine(data, "grid", "grid.env")).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        string Se(string site) => $"root://127.0.0.1:{grid[$"SE_{site}_PORT"]}/";
        var summary = new JsonObject { ["scenario"] = "transfer", ["files"] = o.Files, ["size"] = size, ["concurrency"] = o.Concurrency, ["eval_files"] = evalFiles };

        if (o.Files > 0)
        {
            // 1. Copy: plant, then the rule, then the plain copies of the same files.
            var dataset = $"/belle/bench/transfer/{run}/copy";
            var lfns = await PlantAsync(catalog, dataset, o.Files, size, Se("KEK"));
            var sw = Stopwatch.StartNew();
            var rule = await transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "DESY-DISK"));
            while ((rule = (await transfer.GetRuleAsync(rule.Id)).Rule).State != RuleState.Ok)
            {
                if (rule.State == RuleState.Stuck) throw new InvalidOperationException($"rule {rule.Id} is stuck: {rule.Reason}");
                await Task.Delay(200);
            }
            var ruleSeconds = sw.Elapsed.TotalSeconds;
            var link = (await transfer.LinkStatsAsync(DateTimeOffset.UtcNow.AddSeconds(-ruleSeconds - 5))).Links.Single(l => l.Source == "KEK-DISK" && l.Destination == "DESY-DISK");
            Console.Error.WriteLine($"rule: {o.Files} files KEK-DISK -> DESY-DISK in {ruleSeconds:F1} s ({o.Files / ruleSeconds:F1} files/s); optimizer: {link.Concurrency} streams ({link.OptimizerNote})");

            sw.Restart();
            var failed = 0;
            await Parallel.ForEachAsync(lfns, new ParallelOptions { MaxDegreeOfParallelism = o.Concurrency }, async (lfn, ct) =>
            {
                var (ok, _) = await Xrootd.ThirdPartyCopyAsync(Xrootd.Absolute(Se("KEK") + lfn), Xrootd.Absolute(Se("PNNL") + lfn), ct);
                if (!ok) Interlocked.Increment(ref failed);
            });
            var rawSeconds = sw.Elapsed.TotalSeconds;
            Console.Error.WriteLine($"plain xrdcp --tpc only, {o.Concurrency} at once: {o.Files} files KEK-DISK -> PNNL-DISK in {rawSeconds:F1} s ({o.Files / rawSeconds:F1} files/s), {failed} failed");
            var copies = 0;
            foreach (var chunk in lfns.Chunk(1000))
                await foreach (var r in catalog.LookupAsync(chunk))
                    copies += r.Replicas?.Count(x => x.Se == "DESY-DISK" && x.State == ReplicaState.Available) ?? 0;
            summary["rule_s"] = Math.Round(ruleSeconds, 2);
            summary["rule_files_per_s"] = Math.Round(o.Files / ruleSeconds, 2);
            summary["raw_tpc_s"] = Math.Round(rawSeconds, 2);
            summary["raw_tpc_files_per_s"] = Math.Round(o.Files / rawSeconds, 2);
            summary["raw_failed"] = failed;
            summary["rule_vs_raw"] = Math.Round(rawSeconds / ruleSeconds, 3);
            summary["desy_replicas_available"] = copies;
            summary["optimizer_streams_at_end"] = link.Concurrency;
            summary["optimizer_note"] = link.OptimizerNote;
            await transfer.RemoveRuleAsync(rule.Id); // its copies go again (KEK's stay: never locked, never the last)
        }

        if (evalFiles > 0)
        {
            // 2. Evaluation over many files whose copies are all in place.
            // --eval-dataset measures again over a dataset an earlier run registered (no registration, no consistency check);
            // the rule is left in place (removing it would queue a million deletions for the reaper to consider).
            var dataset = evalDataset ?? $"/belle/bench/transfer/{run}/eval";
            var sw = Stopwatch.StartNew();
            if (evalDataset is null)
            {
                await catalog.CreateDatasetAsync(new DatasetRequest(dataset, MaxFilesPerBlock: 1000));
                var files = Enumerable.Range(0, evalFiles).Select(i => new NewFile($"{dataset}/sub{i / 1000:D4}/e{i:D7}.root", 0, "00000001", Replicas: [new NewReplica("KEK-DISK")]));
                var registered = 0;
                await foreach (var r in catalog.RegisterManyAsync(files, batchSize: 10_000, parallelism: 4))
                    if (r.Error is null) registered++;
                Console.Error.WriteLine($"registered {registered:N0} files in {sw.Elapsed.TotalSeconds:F1} s in {dataset}");
            }

            // Reading alone, through the client call the evaluation makes: one query stream carrying
            // size, checksum and replicas with their states (QueryReplicasAsync).
            sw.Restart();
            var read = 0L;
            await foreach (var row in catalog.QueryReplicasAsync(new QueryRequest("size >= 0", dataset, Limit: 10_000)))
                if (row.Attributes.Replicas.Count > 0) read++;
            var readSeconds = sw.Elapsed.TotalSeconds;
            // And as the evaluation read before (paths, then bulk lookups by LFN), for comparison.
            sw.Restart();
            var paths = new List<string>(Evaluator);
            var readByLookup = 0L;
            await foreach (var row in catalog.QueryAllAsync(new QueryRequest("size >= 0", dataset, Limit: 10_000)))
            {
                paths.Add(row.Path);
                if (paths.Count == Evaluator) { readByLookup += await LookupCountAsync(catalog, paths); paths.Clear(); }
            }
            readByLookup += await LookupCountAsync(catalog, paths);
            var lookupSeconds = sw.Elapsed.TotalSeconds;

            sw.Restart();
            var rule = await transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "KEK-DISK"));
            var evalSeconds = sw.Elapsed.TotalSeconds;
            Console.Error.WriteLine($"rule over {rule.Files:N0} files evaluated in {evalSeconds:F1} s ({rule.LocksOk:N0} locks OK, state {rule.State}); reading them alone: {readSeconds:F1} s ({read:N0}); by paths and lookups: {lookupSeconds:F1} s ({readByLookup:N0})");
            summary["eval_s"] = Math.Round(evalSeconds, 2);
            summary["eval_read_only_s"] = Math.Round(readSeconds, 2);
            summary["eval_read_by_lookups_s"] = Math.Round(lookupSeconds, 2);
            summary["eval_vs_read"] = Math.Round(evalSeconds / readSeconds, 2);
            summary["eval_locks_ok"] = rule.LocksOk;
            summary["eval_dataset"] = dataset;
            if (evalDataset is not null)
            {
                await Report.WriteAsync(o.Json, summary, null, "Transfer: rule evaluation again over an earlier run's files");
                return 0;
            }

            // 3. Consistency over the same files, created on KEK-DISK's disk (0 bytes, as their catalog entries say).
            var seRoot = File.Exists(Path.Combine(data, "grid", "se.location")) ? File.ReadAllText(Path.Combine(data, "grid", "se.location")).Trim() : Path.Combine(data, "grid", "se");
            var kekData = Path.Combine(seRoot, "KEK-DISK", "data");
            sw.Restart();
            for (var b = 0; b * 1000 < evalFiles; b++)
            {
                var dir = Path.Combine(kekData, dataset.TrimStart('/'), $"sub{b:D4}");
                Directory.CreateDirectory(dir);
                for (var i = b * 1000; i < Math.Min(evalFiles, (b + 1) * 1000); i++) File.Create(Path.Combine(dir, $"e{i:D7}.root")).Dispose();
            }
            await Tool.RunAsync("chown", ["-R", "xrootd:", Path.Combine(kekData, "belle", "bench")], null, default);
            Console.Error.WriteLine($"created {evalFiles:N0} files on KEK-DISK's disk in {sw.Elapsed.TotalSeconds:F1} s");

            // Three rounds, alternating: the first reads cold pages (the catalog's dump of a 1,000,000-replica
            // SE took 14 s cold and 0.3 s warm in a trial), the median is the steady state.
            var checks = new List<double>();
            var lists = new List<double>();
            List<(string, long, DateTime)>? listing = null;
            ConsistencyReport report = null!;
            for (var round = 0; round < 3; round++)
            {
                sw.Restart();
                listing = await Xrootd.ListAsync(Se("KEK").TrimEnd('/'), "/", default);
                lists.Add(sw.Elapsed.TotalSeconds);
                sw.Restart();
                report = await transfer.CheckConsistencyAsync("KEK-DISK");
                checks.Add(sw.Elapsed.TotalSeconds);
            }
            var (checkSeconds, listSeconds) = (Median(checks), Median(lists));
            Console.Error.WriteLine($"consistency of KEK-DISK: {report.SeFiles:N0} files, {report.CatalogReplicas:N0} replicas, {report.Dark.Count} dark, {report.Lost.Count} lost; " +
                $"{string.Join(", ", checks.Select(c => c.ToString("F1")))} s; the SE's listing alone: {string.Join(", ", lists.Select(c => c.ToString("F1")))} s ({listing?.Count:N0} files)");
            summary["consistency_first_s"] = Math.Round(checks[0], 2);
            summary["consistency_s"] = Math.Round(checkSeconds, 2);
            summary["consistency_listing_only_s"] = Math.Round(listSeconds, 2);
            summary["consistency_vs_listing"] = Math.Round(checkSeconds / listSeconds, 2);
            summary["consistency_se_files"] = report.SeFiles;
            summary["consistency_replicas"] = report.CatalogReplicas;
            summary["consistency_dark"] = report.Dark.Count;
            summary["consistency_lost"] = report.Lost.Count;
        }
        await Report.WriteAsync(o.Json, summary, null, "Transfer: rule copies against plain TPC, evaluation, consistency");
        return 0;
    }

    private const int Evaluator = 10_000;

    private static double Median(List<double> xs) => xs.Order().ElementAt(xs.Count / 2);

    private static async Task<long> LookupCountAsync(CatalogClient catalog, List<string> lfns)
    {
        long n = 0;
        await foreach (var r in catalog.LookupAsync(lfns, all: true)) if (r.Replicas is { Count: > 0 }) n++;
        return n;
    }

    /// <summary>Files written to the SE for real (xrdcp, 16 at once) and registered in a dataset there.</summary>
    private static async Task<List<string>> PlantAsync(CatalogClient catalog, string dataset, int files, int size, string se)
    {
        await catalog.CreateDatasetAsync(new DatasetRequest(dataset, MaxFilesPerBlock: 1000));
        var local = Path.Combine(Path.GetTempPath(), $"transfer-bench-{Environment.ProcessId}");
        Directory.CreateDirectory(local);
        var lfns = Enumerable.Range(0, files).Select(i => $"{dataset}/sub{i / 1000:D2}/f{i:D6}.root").ToList();
        var news = new NewFile[files];
        await Parallel.ForEachAsync(Enumerable.Range(0, files), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
        {
            var path = Path.Combine(local, $"f{i}");
            var adler = OutputContent.Write(path, i + 1, size);
            var (code, output) = await Tool.RunAsync("xrdcp", ["--nopbar", "--posc", path, Xrootd.Absolute(se + lfns[i])], null, ct);
            if (code != 0) throw new InvalidOperationException($"upload of {lfns[i]} failed: {output}");
            File.Delete(path);
            news[i] = new NewFile(lfns[i], size, adler, Replicas: [new NewReplica("KEK-DISK")]);
        });
        foreach (var chunk in news.Chunk(1000))
        {
            var r = await catalog.RegisterAsync(chunk);
            if (r.Results.FirstOrDefault(x => x.Error is not null) is { } bad) throw new InvalidOperationException($"registration failed: {bad.Error!.Message}");
        }
        Directory.Delete(local, true);
        return lfns;
    }
}
