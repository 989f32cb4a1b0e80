using System.Diagnostics;
using System.Text.Json.Nodes;
using Catalog.Client;
using Catalog.Contracts;
using Npgsql;

namespace Catalog.LoadTests;

/// <summary>
/// The production system against a running ./run.sh (catalog, grid, production service):
/// 1. planning a 1,000,000-job production through the API (held, so nothing is submitted),
///    beside a binary COPY of 1,000,000 rows of the same width into a scratch table of the
///    production database (the floor for writing them);
/// 2. its status (median of --runs) beside the service's /readyz (an HTTP round trip with a
///    database touch, the floor for any answer);
/// 3. a --jobs production end to end (submitted, run by Slurm, uploaded, registered) in jobs/s,
///    beside the raw pipeline: the same payload (the job's output step) in plain sbatch arrays,
///    uploaded with xrdcp, registered with bulk calls; then 0 lost, 0 duplicated, 0 on the wrong SE.
/// </summary>
public static class ProductionBench
{
    public static async Task<int> RunAsync(Options o, Uri productionUrl, string data, int planJobs)
    {
        var run = DateTime.UtcNow.ToString("MMddHHmmss");
        var catalog = o.CreateClient();
        var production = ProductionClient.Create(productionUrl, o.Token, TimeSpan.FromMinutes(10));
        var summary = new JsonObject { ["scenario"] = "production", ["plan_jobs"] = planJobs, ["e2e_jobs"] = o.Jobs };

        // 1. Plan.
        var big = Spec($"bench-plan-{run}", planJobs, 1) with { Hold = true };
        var sw = Stopwatch.StartNew();
        var created = await production.CreateAsync(big);
        var planSeconds = sw.Elapsed.TotalSeconds;
        var copySeconds = await CopyBaselineAsync(o.Postgres.Replace("Database=catalog", "Database=production"), planJobs);
        summary["plan_s"] = Math.Round(planSeconds, 2);
        summary["plan_copy_baseline_s"] = Math.Round(copySeconds, 2);
        summary["plan_vs_copy"] = Math.Round(planSeconds / copySeconds, 2);
        Console.Error.WriteLine($"planned {created.Jobs:N0} jobs in {planSeconds:F2} s (COPY of the same rows: {copySeconds:F2} s)");

        // 2. Status.
        using var http = new HttpClient { BaseAddress = productionUrl };
        var status = new List<double>();
        var ready = new List<double>();
        for (var i = 0; i < o.Runs + 3; i++)
        {
            sw.Restart();
            var s = await production.StatusAsync(big.Name!);
            if (i >= 3) status.Add(sw.Elapsed.TotalMilliseconds);
            if (s.Jobs != planJobs) throw new InvalidOperationException($"status counted {s.Jobs} jobs, not {planJobs}");
            sw.Restart();
            (await http.GetAsync("readyz")).EnsureSuccessStatusCode();
            if (i >= 3) ready.Add(sw.Elapsed.TotalMilliseconds);
        }
        summary["status_median_ms"] = Math.Round(Median(status), 2);
        summary["readyz_median_ms"] = Math.Round(Median(ready), 2);
        summary["status_vs_readyz"] = Math.Round(Median(status) / Median(ready), 2);
        await production.KillAsync(big.Name!);

        // 3. End to end, then the raw pipeline on the same grid (--jobs 0: neither).
        if (o.Jobs == 0) { await Report.WriteAsync(o.Json, summary, null, "Production: plan and status"); return 0; }
        var e2eName = $"bench-e2e-{run}";
        var runsDir = Path.Combine(data, "production", "runs");
        sw.Restart();
        var e2e = await production.CreateAsync(Spec(e2eName, o.Jobs, 1));
        ProductionStatus st;
        while ((st = await production.StatusAsync(e2eName)).State != ProductionState.Done)
        {
            if (sw.Elapsed > TimeSpan.FromMinutes(30)) throw new TimeoutException($"{e2eName} not done in 30 min");
            await Task.Delay(500);
        }
        var e2eSeconds = sw.Elapsed.TotalSeconds;
        var (lost, duplicated, wrongSe) = await VerifyAsync(catalog, production, e2e, runsDir);
        summary["e2e_s"] = Math.Round(e2eSeconds, 1);
        summary["e2e_jobs_per_s"] = Math.Round(o.Jobs / e2eSeconds, 2);
        summary["e2e_lost"] = lost;
        summary["e2e_duplicated"] = duplicated;
        summary["e2e_wrong_se"] = wrongSe;

        var rawSeconds = await RawPipelineAsync(catalog, data, $"bench-raw-{run}", o.Jobs);
        summary["raw_s"] = Math.Round(rawSeconds, 1);
        summary["raw_jobs_per_s"] = Math.Round(o.Jobs / rawSeconds, 2);
        summary["e2e_vs_raw"] = Math.Round(rawSeconds / e2eSeconds, 2);
        await Report.WriteAsync(o.Json, summary, null, "Production: plan, status, end to end");
        return 0;
    }

    private static ProductionSpec Spec(string name, int jobs, int eventsPerJob) =>
        new(name, ProductionKind.Simulation, $"/belle/MC/bench/{name}/mdst", Release: "release-08-01-00", GlobalTag: "main_2024",
            McEventType: "mixed", Campaign: "MC15ri", BeamEnergy: "4S", Experiment: 1003, RunLow: 0, RunHigh: 99,
            Events: (long)jobs * eventsPerJob, EventsPerJob: eventsPerJob, OutputSize: 16384);

    private static async Task<double> CopyBaselineAsync(string connection, int rows)
    {
        await using var conn = new NpgsqlConnection(connection);
        await conn.OpenAsync();
        await using (var cmd = new NpgsqlCommand("create temp table job_copy (production_id bigint, idx integer, state smallint, site text, seed bigint, first_event bigint, events integer, inputs text[], primary key (production_id, idx))", conn))
            await cmd.ExecuteNonQueryAsync();
        var sw = Stopwatch.StartNew();
        await using (var copy = await conn.BeginBinaryImportAsync("copy job_copy (production_id, idx, state, site, seed, first_event, events, inputs) from stdin (format binary)"))
        {
            string[] sites = ["DESY", "KEK", "PNNL"];
            for (var i = 0; i < rows; i++)
            {
                await copy.StartRowAsync();
                await copy.WriteAsync(1L); await copy.WriteAsync(i); await copy.WriteAsync((short)0); await copy.WriteAsync(sites[i % 3]);
                await copy.WriteAsync((long)i * 7919); await copy.WriteAsync((long)i); await copy.WriteAsync(1); await copy.WriteNullAsync();
            }
            await copy.CompleteAsync();
        }
        return sw.Elapsed.TotalSeconds;
    }

    private static async Task<(int Lost, int Duplicated, int WrongSe)> VerifyAsync(CatalogClient catalog, ProductionClient production, ProductionInfo p, string runsDir)
    {
        var summary = await catalog.GetDatasetSummaryAsync(p.Spec.OutputDataset!);
        var lost = (int)Math.Max(0, p.Jobs - summary.Files);
        // The jobs' own record of every run: one file per (production, index, attempt, Slurm job).
        var runs = Directory.GetFiles(runsDir, $"{p.Id}_*").Select(f => Path.GetFileName(f).Split('_')).GroupBy(f => f[1]);
        var duplicated = runs.Count(g => g.Count() > 1) + (int)Math.Max(0, summary.Files - p.Jobs);
        var wrong = 0;
        int? after = null;
        do
        {
            var page = await production.JobsAsync(p.Name, after: after, limit: 1000);
            wrong += page.Jobs.Count(j => j.OutputSe != $"{j.Site}-DISK");
            after = page.Next;
        } while (after is not null);
        return (lost, duplicated, wrong);
    }

    /// <summary>
    /// The same jobs without the production system: one sbatch array per site, each task runs the
    /// payload's output step and xrdcp, writing a line of what it made; then bulk registration.
    /// </summary>
    private static async Task<double> RawPipelineAsync(CatalogClient catalog, string data, string name, int jobs)
    {
        var dir = Path.Combine(data, "bench", name);
        Directory.CreateDirectory(dir);
        var slurmConf = Path.Combine(data, "grid", "slurm", "slurm.conf");
        // The same job program as the production's: ./run.sh's native build, else the JIT build.
        var native = Path.Combine(data, "production-job", "Catalog.Production.Job");
        var job = File.Exists(native) ? $"'{native}'" : $"dotnet '{Path.Combine(data, "production-bin", "Catalog.Production.Job.dll")}'";
        var ses = (await catalog.ListStorageElementsAsync()).Where(s => s.Name == $"{s.Site}-DISK").ToDictionary(s => s.Site, s => s.BaseUrl);
        var dataset = $"/belle/MC/bench/{name}/mdst";
        await catalog.CreateDatasetAsync(new DatasetRequest(dataset));
        string[] sites = ["DESY", "KEK", "PNNL"];
        var sw = Stopwatch.StartNew();
        foreach (var site in sites)
        {
            var indexes = Enumerable.Range(0, jobs).Where(i => i % 3 == Array.IndexOf(sites, site)).ToArray();
            for (var start = 0; start < indexes.Length; start += 1000)
            {
                var slice = indexes.Skip(start).Take(1000).ToArray();
                var list = Path.Combine(dir, $"{site}-{start}.txt");
                await File.WriteAllLinesAsync(list, slice.Select(i => $"{i}"));
                var script = Path.Combine(dir, $"{site}-{start}.sh");
                await File.WriteAllTextAsync(script, $$"""
                    #!/bin/bash
                    set -e
                    idx=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" '{{list}}')
                    f='{{dir}}/out_'$idx.root
                    adler=$({{job}} make-output '{{name}}' "$idx" 16384 "$f")
                    pfn='{{ses[site].TrimEnd('/')}}/{{dataset}}/mdst_'$(printf %08d $idx)'_{{name}}.root'
                    XRD_CONNECTIONWINDOW=5 xrdcp --nopbar --posc --cksum adler32:$adler "$f" "$pfn"
                    echo "$idx $adler $pfn" > '{{dir}}/done_'$idx
                    rm -f "$f"
                    """);
                var psi = new ProcessStartInfo("sbatch", ["--parsable", $"--job-name={name}", $"--partition={site}", $"--array=0-{slice.Length - 1}",
                    "--ntasks=1", "--mem=64M", "--output=/dev/null", script]);
                psi.Environment["SLURM_CONF"] = slurmConf;
                psi.RedirectStandardOutput = true;
                using var p = Process.Start(psi)!;
                await p.WaitForExitAsync();
                if (p.ExitCode != 0) throw new InvalidOperationException("sbatch failed for the raw pipeline");
            }
        }
        while (Directory.GetFiles(dir, "done_*").Length < jobs)
        {
            if (sw.Elapsed > TimeSpan.FromMinutes(30)) throw new TimeoutException("the raw pipeline did not finish in 30 min");
            await Task.Delay(500);
        }
        var files = Directory.GetFiles(dir, "done_*").Select(f => File.ReadAllText(f).Trim().Split(' ')).Select(f =>
        {
            var idx = int.Parse(f[0]);
            var se = $"{sites[idx % 3]}-DISK";
            return new NewFile($"mdst_{idx:D8}_{name}.root", 16384, f[1], Replicas: [new NewReplica(se, f[2])],
                Metadata: new JsonObject { ["nEvents"] = 1, ["production"] = name }, Dataset: dataset);
        }).ToList();
        var failed = 0;
        await foreach (var r in catalog.RegisterManyAsync(files, batchSize: 1000, parallelism: 2))
            if (r.Status == ItemStatus.Failed) failed++;
        if (failed > 0) throw new InvalidOperationException($"{failed} raw outputs were refused by the catalog");
        return sw.Elapsed.TotalSeconds;
    }

    private static double Median(List<double> xs) { xs.Sort(); return xs[xs.Count / 2]; }
}
