using Catalog.Storage;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Catalog.Client;
using Catalog.Contracts;
using HdrHistogram;
using Npgsql;

namespace Catalog.LoadTests;

/// <summary>
/// A campaign's registration storm: --jobs grid jobs finish within --window seconds, each
/// registering its one output file (replica, metadata, dataset) in one request, retrying on 503
/// and timeouts like a real job, with at most --concurrency requests in flight. Then every
/// acknowledged file is checked: present exactly once, with its replica and metadata. The
/// baseline is binary COPY of the same file rows in the same run.
/// </summary>
public static class Storm
{
    private const string Se = "STORM-KEK";
    private const int Datasets = 20;

    /// <param name="analysts">For <c>mixed</c>: this many analysts look single LFNs up while the storm runs,
    /// each an LFN acknowledged earlier (so a miss is a read-your-writes failure, counted as an error).</param>
    public static async Task<int> RunAsync(Options o, int jobs, double window, int analysts = 0)
    {
        var retries = new ConcurrentDictionary<string, int>();
        var client = CatalogClient.Create(new CatalogClientOptions
        {
            BaseAddress = o.Url, Token = o.Token, Timeout = TimeSpan.FromMinutes(10), AttemptTimeout = TimeSpan.FromSeconds(30), MaxRetries = 20,
            OnRetry = r => retries.AddOrUpdate(r.Reason, 1, (_, n) => n + 1),
        }, new SocketsHttpHandler
        {
            // Every job is its own process with its own connection: up to --concurrency at once reach the server.
            MaxConnectionsPerServer = o.Concurrency,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        });
        var run = DateTime.UtcNow.ToString("yyyyMMddHHmmss");
        var root = $"/belle/storm/{run}";
        await client.PutStorageElementAsync(Se, new StorageElementSpec("KEK", "root", "root://storm.kek:1094//belle"));
        async Task PrepareAsync(string top)
        {
            await client.MakeDirectoryAsync(top, parents: true);
            await client.DeclareAttributeAsync(new AttributeSpec(top, "nEvents", AttributeType.Integer, AttributeTarget.Files));
            await client.DeclareAttributeAsync(new AttributeSpec(top, "mcEventType", AttributeType.String, AttributeTarget.Directories));
            for (var d = 0; d < Datasets; d++)
                await client.CreateDatasetAsync(new DatasetRequest($"{top}/ds{d:D2}", new JsonObject { ["mcEventType"] = "mixed" }));
        }

        // A catalog in service has run its code many times: an unmeasured storm of its own first
        // (--warmup jobs, into another directory), so the measured one does not pay the server's
        // just-in-time compilation (13% of its CPU in a profile of a storm on a fresh server).
        if (o.Warmup > 0)
        {
            await PrepareAsync(root + "-warmup");
            var warmClock = Stopwatch.StartNew();
            await FireAsync(o.Warmup, window, o.Concurrency, async j =>
            {
                try { await client.RegisterAsync([Job(root + "-warmup", j)]); }
                catch (Exception) { }
            });
            Console.WriteLine($"warm-up: {o.Warmup:N0} jobs in {warmClock.Elapsed.TotalSeconds:F1} s (not measured)");
            retries.Clear();
        }
        await PrepareAsync(root);

        var latencies = new long[jobs];
        var acknowledged = new string?[jobs];
        var errors = new ConcurrentDictionary<string, int>();
        var done = 0;
        var clock = Stopwatch.StartNew();
        var timeline = new Timeline(client.Http);
        var reads = new LongConcurrentHistogram(1, TimeSpan.FromMinutes(10).Ticks / 10, 3);
        long readErrors = 0;
        var finished = new CancellationTokenSource();
        // Analysts are other people: their own client, so they do not queue behind the jobs' connections.
        var analystClient = o.CreateClient();
        var analystTasks = Enumerable.Range(0, analysts).Select(a => Task.Run(async () =>
        {
            var random = new Random(a);
            while (!finished.IsCancellationRequested)
            {
                var upTo = Volatile.Read(ref done);
                var j = upTo == 0 ? -1 : random.Next(upTo);
                if (j < 0 || Volatile.Read(ref acknowledged[j]) is not { } lfn) { await Task.Delay(5); continue; }
                var t = Stopwatch.GetTimestamp();
                try
                {
                    var file = await analystClient.ListReplicasAsync(lfn);
                    if (file.Count != 1) Interlocked.Increment(ref readErrors);
                }
                catch (Exception) { Interlocked.Increment(ref readErrors); }
                reads.RecordValue(Math.Max(1, Stopwatch.GetElapsedTime(t).Ticks / 10));
            }
        })).ToList();
        using var progress = new Timer(_ => Console.Write($"\r{Volatile.Read(ref done):N0}/{jobs:N0} jobs, {Volatile.Read(ref done) / clock.Elapsed.TotalSeconds:N0}/s   "), null, 1000, 1000);
        await FireAsync(jobs, window, o.Concurrency, async j =>
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                var response = await client.RegisterAsync([Job(root, j)]);
                var r = response.Results[0];
                if (r.Status == ItemStatus.Failed) errors.AddOrUpdate(r.Error!.Code.ToString(), 1, (_, n) => n + 1);
                else acknowledged[j] = r.Lfn;
            }
            catch (Exception e)
            {
                errors.AddOrUpdate(e.GetType().Name, 1, (_, n) => n + 1);
            }
            finally
            {
                latencies[j] = Stopwatch.GetElapsedTime(started).Ticks / 10; // microseconds
                timeline.Record(latencies[j]);
                Interlocked.Increment(ref done);
            }
        });
        var seconds = clock.Elapsed.TotalSeconds;
        finished.Cancel();
        await Task.WhenAll(analystTasks);
        await timeline.DisposeAsync();
        progress.Dispose();
        Console.WriteLine();

        var histogram = new LongHistogram(TimeSpan.FromMinutes(10).Ticks / 10, 3);
        foreach (var l in latencies) histogram.RecordValue(Math.Max(1, l));
        var (lost, duplicated, wrong) = await VerifyAsync(client, root, acknowledged);
        var copyRate = await CopyBaselineAsync(o.Postgres, jobs);
        var rate = jobs / seconds;
        var report = new JsonObject
        {
            ["scenario"] = analysts > 0 ? "mixed" : "storm", ["operations"] = jobs, ["concurrency"] = o.Concurrency, ["window_s"] = window,
            ["warmup_jobs"] = o.Warmup,
            ["seconds"] = Math.Round(seconds, 2), ["throughput_per_s"] = Math.Round(rate, 1),
            ["p50_ms"] = histogram.GetValueAtPercentile(50) / 1000.0, ["p95_ms"] = histogram.GetValueAtPercentile(95) / 1000.0,
            ["p99_ms"] = histogram.GetValueAtPercentile(99) / 1000.0, ["max_ms"] = histogram.GetMaxValue() / 1000.0,
            ["errors"] = errors.Values.Sum(), ["errors_by_kind"] = Report.Counts(errors),
            ["acknowledged"] = acknowledged.Count(a => a is not null), ["lost"] = lost, ["duplicated"] = duplicated, ["wrong_replica_or_metadata"] = wrong,
            ["baseline"] = "binary COPY of the same file rows into a look-alike table (median of 3)", ["baseline_per_s"] = Math.Round(copyRate, 1),
            ["ratio"] = Math.Round(rate / copyRate, 4),
            ["retried_by_reason"] = Report.Counts(retries),
            ["server_memory_max_mb"] = Math.Round(timeline.MaxServerMemoryMb, 0),
        };
        if (analysts > 0)
        {
            report["analysts"] = analysts;
            report["lookups"] = reads.TotalCount;
            report["lookups_per_s"] = Math.Round(reads.TotalCount / seconds, 0);
            report["lookup_p50_ms"] = reads.GetValueAtPercentile(50) / 1000.0;
            report["lookup_p95_ms"] = reads.GetValueAtPercentile(95) / 1000.0;
            report["lookup_p99_ms"] = reads.GetValueAtPercentile(99) / 1000.0;
            report["lookup_max_ms"] = reads.GetMaxValue() / 1000.0;
            report["lookup_errors"] = readErrors;
        }
        await Report.WriteAsync(o.Json, report, timeline, analysts > 0
            ? $"mixed: {jobs:N0} jobs in {window} s, {o.Concurrency:N0} in flight, {analysts} analysts"
            : $"storm: {jobs:N0} jobs in {window} s, {o.Concurrency:N0} in flight");
        return lost == 0 && duplicated == 0 && wrong == 0 && errors.IsEmpty && readErrors == 0 ? 0 : 1;
    }

    /// <summary>
    /// Jobs 0..count-1 come due evenly over <paramref name="window"/> seconds (from now), at most
    /// <paramref name="concurrency"/> of them in flight; <paramref name="job"/> runs each.
    /// </summary>
    private static Task FireAsync(int count, double window, int concurrency, Func<int, Task> job)
    {
        var gate = new SemaphoreSlim(concurrency);
        var clock = Stopwatch.StartNew();
        return Task.WhenAll(Enumerable.Range(0, count).Select(async j =>
        {
            var due = TimeSpan.FromSeconds(window * j / count) - clock.Elapsed;
            if (due > TimeSpan.Zero) await Task.Delay(due);
            await gate.WaitAsync();
            try { await job(j); }
            finally { gate.Release(); }
        }));
    }

    private static NewFile Job(string root, int j) => new($"job{j:D6}.root", 1_000_000 + j, ((uint)(j * 2654435761u)).ToString("x8"),
        Replicas: [new NewReplica(Se)], Metadata: new JsonObject { ["nEvents"] = j % 5000 }, Dataset: $"{root}/ds{j % Datasets:D2}");

    /// <summary>Every acknowledged LFN present exactly once (by name across the dataset's blocks), with its replica and metadata.</summary>
    private static async Task<(int Lost, int Duplicated, int Wrong)> VerifyAsync(CatalogClient client, string root, string?[] acknowledged)
    {
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        await foreach (var row in client.QueryAllAsync(new QueryRequest("size >= 0", root)))
        {
            var name = row.Path[(row.Path.LastIndexOf('/') + 1)..];
            names[name] = names.GetValueOrDefault(name) + 1;
        }
        var duplicated = names.Values.Count(n => n > 1);
        var acked = acknowledged.Select((lfn, j) => (lfn, j)).Where(x => x.lfn is not null).ToList();
        var lost = acked.Count(x => !names.ContainsKey(x.lfn![(x.lfn!.LastIndexOf('/') + 1)..]));
        var wrong = 0;
        foreach (var chunk in acked.Chunk(10_000))
        {
            var meta = (await client.GetMetadataAsync(chunk.Select(c => c.lfn!))).Results;
            var i = 0;
            await foreach (var hit in client.LookupAsync(chunk.Select(c => c.lfn!)))
            {
                var j = chunk[i].j;
                var ok = hit.Error is null && hit.Replicas!.Count == 1 && hit.Replicas[0].Se == Se && hit.Size == 1_000_000 + j
                    && meta[i].Ok && (int?)meta[i].Own?["nEvents"] == j % 5000 && (string?)meta[i].Effective?["mcEventType"] == "mixed";
                if (!ok) wrong++;
                i++;
            }
        }
        return (lost, duplicated, wrong);
    }

    /// <summary>
    /// The median of three COPY runs: one COPY of 20,000 rows takes a few hundred milliseconds, and
    /// single runs swung between 36,000 and 98,000 rows/s back to back on this machine.
    /// </summary>
    private static async Task<double> CopyBaselineAsync(string postgres, int jobs)
    {
        var rates = new List<double>();
        for (var i = 0; i < 3; i++) rates.Add(await CopyOnceAsync(postgres, jobs));
        rates.Sort();
        return rates[1];
    }

    private static async Task<double> CopyOnceAsync(string postgres, int jobs)
    {
        await using var db = NpgsqlDataSource.Create(postgres);
        await using var conn = await db.OpenConnectionAsync();
        await BaselineCopy.LookAlikeAsync(conn, "storm_bench_file", "file");
        try
        {
            var clock = Stopwatch.StartNew();
            await BaselineCopy.FilesAsync(conn, "storm_bench_file", Enumerable.Range(0, jobs).Select(j => ((long)j + 1,
                new NewFileRow(j % Datasets, $"job{j:D6}.root", Guid.CreateVersion7(), 1_000_000L + j, unchecked((int)(j * 2654435761u)), null,
                    $$"""{"nEvents": {{j % 5000}}}"""))), "storm", "belle");
            return jobs / clock.Elapsed.TotalSeconds;
        }
        finally
        {
            await using var drop = new NpgsqlCommand("drop table if exists storm_bench_file", conn);
            await drop.ExecuteNonQueryAsync();
        }
    }
}
