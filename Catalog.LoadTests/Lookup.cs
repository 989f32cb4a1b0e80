using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Catalog.Client;
using Catalog.Contracts;
using HdrHistogram;

namespace Catalog.LoadTests;

/// <summary>
/// Analysts: bulk replica lookups of 10,000 LFNs, and single-LFN lookups at --concurrency with
/// Zipf-distributed popularity, beside the same server answering a constant JSON of the same
/// size (the HTTP pipeline's own cost) in the same run.
/// </summary>
public static class Lookup
{
    public static async Task<int> RunAsync(Options o, double seconds)
    {
        var client = o.CreateClient();
        var root = $"/belle/lookup/{DateTime.UtcNow:yyyyMMddHHmmss}";
        await client.PutStorageElementAsync("LOOKUP-KEK", new StorageElementSpec("KEK", "root", "root://lookup.kek:1094//belle"));
        var lfns = Enumerable.Range(0, o.Files).Select(i => $"{root}/sub{i / 1000:D3}/f{i:D7}.root").ToList();
        var clock = Stopwatch.StartNew();
        await foreach (var r in client.RegisterManyAsync(lfns.Select((l, i) => new NewFile(l, 1000 + i, "0000000a", Replicas: [new NewReplica("LOOKUP-KEK")])), 5000, 2))
            if (r.Status == ItemStatus.Failed) throw new InvalidOperationException(r.Error!.Message);
        Console.WriteLine($"registered {lfns.Count:N0} files in {clock.Elapsed.TotalSeconds:F0} s");

        // Bulk: 10,000 random LFNs per call; 45 timed after 5, since single runs on this shared
        // machine moved between 80 and 115 ms and a median of 20 still moved with them.
        var random = new Random(42);
        var bulk = new List<double>();
        for (var run = 0; run < 50; run++)
        {
            var batch = Enumerable.Range(0, 10_000).Select(_ => lfns[random.Next(lfns.Count)]).ToList();
            var t = Stopwatch.StartNew();
            var n = 0;
            await foreach (var hit in client.LookupAsync(batch)) if (hit.Error is null) n++;
            if (run >= 5) bulk.Add(t.Elapsed.TotalMilliseconds);
            if (n != batch.Count) throw new InvalidOperationException($"bulk lookup found {n} of {batch.Count}");
        }
        bulk.Sort();

        // Single LFNs, Zipf popularity (s = 1.1), against the constant-JSON baseline of the same size.
        var zipf = Zipf(lfns.Count, 1.1);
        var size = JsonSerializer.SerializeToUtf8Bytes(await client.ListReplicasAsync(lfns[0]), CatalogJson.Options).Length;
        using (var probe = await client.Http.GetAsync($"api/v1/bench/constant?bytes={size}"))
            if (probe.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                Console.Error.WriteLine("lookup: the server has no constant-JSON baseline endpoint; start it with Catalog__Bench__Enabled=true");
                return 2;
            }
        // Warm-up of the same length, unmeasured: a catalog in service has its popular LFNs cached.
        await ClosedLoopAsync(o.Concurrency, seconds, async r => await client.ListReplicasAsync(lfns[zipf(r)]));
        var timeline = new Timeline(client.Http);
        var (hits0, misses0) = await CacheCountsAsync(client.Http);
        var single = await ClosedLoopAsync(o.Concurrency, seconds, async r => await client.ListReplicasAsync(lfns[zipf(r)]), timeline);
        var (hits1, misses1) = await CacheCountsAsync(client.Http);
        await timeline.DisposeAsync();
        var constant = await ClosedLoopAsync(o.Concurrency, seconds, async _ =>
        {
            using var response = await client.Http.GetAsync($"api/v1/bench/constant?bytes={size}");
            await response.Content.ReadAsByteArrayAsync();
        });

        // Latency at the target load: the same lookups at half the baseline's rate, sent on a fixed
        // schedule (open loop) over the same connections. Closed loop at saturation, latency is just
        // connections / throughput (Little's law), for the baseline too; this is what an analyst
        // sees while the server carries the target load. Latency counts from when a request was due,
        // so a server falling behind shows in it (no coordinated omission).
        var rate = constant.Rate / 2;
        var paced = await FixedRateAsync(o.Concurrency, rate, seconds, async r => await client.ListReplicasAsync(lfns[zipf(r)]));

        var report = new JsonObject
        {
            ["scenario"] = "lookup", ["files"] = lfns.Count,
            ["bulk_10000_p50_ms"] = Math.Round(bulk[bulk.Count / 2], 1), ["bulk_10000_p95_ms"] = Math.Round(bulk[(int)(bulk.Count * 0.95)], 1),
            ["bulk_10000_p99_ms"] = Math.Round(bulk[(int)(bulk.Count * 0.99)], 1), ["bulk_10000_max_ms"] = Math.Round(bulk[^1], 1),
            ["bulk_lfn_per_s"] = Math.Round(10_000 / (bulk[bulk.Count / 2] / 1000), 0),
            ["single_concurrency"] = o.Concurrency, ["single_operations"] = single.Count, ["single_throughput_per_s"] = Math.Round(single.Rate, 0),
            ["single_p50_ms"] = single.P50, ["single_p95_ms"] = single.P95, ["single_p99_ms"] = single.P99, ["single_max_ms"] = single.Max,
            ["baseline"] = $"GET /api/v1/bench/constant of {size} bytes (same server, same pipeline)",
            ["baseline_per_s"] = Math.Round(constant.Rate, 0), ["baseline_p99_ms"] = constant.P99,
            ["ratio"] = Math.Round(single.Rate / constant.Rate, 3), ["errors"] = single.Errors + constant.Errors + paced.Errors,
            ["fixed_rate_per_s"] = Math.Round(paced.Rate, 0), ["fixed_rate_target_per_s"] = Math.Round(rate, 0),
            ["fixed_rate_p50_ms"] = paced.P50, ["fixed_rate_p95_ms"] = paced.P95, ["fixed_rate_p99_ms"] = paced.P99, ["fixed_rate_max_ms"] = paced.Max,
        };
        report["operations"] = single.Count;
        report["seconds"] = seconds;
        report["throughput_per_s"] = Math.Round(single.Rate, 0);
        report["p50_ms"] = single.P50;
        report["p95_ms"] = single.P95;
        report["p99_ms"] = single.P99;
        report["max_ms"] = single.Max;
        report["lost"] = 0;
        report["duplicated"] = 0;
        report["server_memory_max_mb"] = Math.Round(timeline.MaxServerMemoryMb, 0);
        // From the server's /metrics: how many of the measured single lookups Redis answered.
        report["cache_hits"] = hits1 - hits0;
        report["cache_misses"] = misses1 - misses0;
        report["cache_hit_ratio"] = hits1 - hits0 + misses1 - misses0 == 0 ? 0 : Math.Round((double)(hits1 - hits0) / (hits1 - hits0 + misses1 - misses0), 3);
        await Report.WriteAsync(o.Json, report, timeline, $"lookup: single LFNs at {o.Concurrency} connections (Zipf), {lfns.Count:N0} files");
        return single.Errors + constant.Errors + paced.Errors == 0 ? 0 : 1;
    }

    /// <summary>The server's file-entry cache hits (memory or Redis) and misses so far (Prometheus text from /metrics).</summary>
    private static async Task<(long Hits, long Misses)> CacheCountsAsync(HttpClient http)
    {
        var text = await http.GetStringAsync("metrics");
        long Value(string name) => text.Split('\n').Where(l => l.StartsWith(name + "{space=\"file\"}", StringComparison.Ordinal))
            .Select(l => (long)double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
        return (Value("catalog_cache_hits") + Value("catalog_cache_local_hits"), Value("catalog_cache_misses"));
    }

    private sealed record Loop(long Count, double Rate, double P50, double P95, double P99, double Max, long Errors)
    {
        public static Loop Of(long count, double seconds, LongConcurrentHistogram h, long errors) => new(count, count / seconds,
            h.GetValueAtPercentile(50) / 1000.0, h.GetValueAtPercentile(95) / 1000.0, h.GetValueAtPercentile(99) / 1000.0, h.GetMaxValue() / 1000.0, errors);
    }

    /// <summary>--concurrency workers issue requests back to back for the given time.</summary>
    private static async Task<Loop> ClosedLoopAsync(int workers, double seconds, Func<Random, Task> call, Timeline? timeline = null)
    {
        var histogram = new LongConcurrentHistogram(1, TimeSpan.FromMinutes(1).Ticks / 10, 3);
        long count = 0, errors = 0;
        var stop = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(async w =>
        {
            var random = new Random(w);
            while (stop.Elapsed.TotalSeconds < seconds)
            {
                var t = Stopwatch.GetTimestamp();
                try { await call(random); Interlocked.Increment(ref count); }
                catch { Interlocked.Increment(ref errors); }
                var micros = Math.Max(1, Stopwatch.GetElapsedTime(t).Ticks / 10);
                histogram.RecordValue(micros);
                timeline?.Record(micros);
            }
        }));
        return Loop.Of(count, stop.Elapsed.TotalSeconds, histogram, errors);
    }

    /// <summary>
    /// <paramref name="workers"/> connections send <paramref name="rate"/> requests/s between them on
    /// a fixed schedule; each latency counts from the request's due time.
    /// </summary>
    private static async Task<Loop> FixedRateAsync(int workers, double rate, double seconds, Func<Random, Task> call)
    {
        var histogram = new LongConcurrentHistogram(1, TimeSpan.FromMinutes(1).Ticks / 10, 3);
        long count = 0, errors = 0;
        var interval = workers / rate;   // seconds between one worker's requests
        var start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(async w =>
        {
            var random = new Random(1000 + w);
            for (var k = 0; ; k++)
            {
                var due = (w * interval / workers) + k * interval;
                if (due >= seconds) break;
                var wait = due - Stopwatch.GetElapsedTime(start).TotalSeconds;
                if (wait > 0) await Task.Delay(TimeSpan.FromSeconds(wait));
                try { await call(random); Interlocked.Increment(ref count); }
                catch { Interlocked.Increment(ref errors); }
                var micros = Math.Max(1, (long)((Stopwatch.GetElapsedTime(start).TotalSeconds - due) * 1_000_000));
                histogram.RecordValue(micros);
            }
        }));
        return Loop.Of(count, Stopwatch.GetElapsedTime(start).TotalSeconds, histogram, errors);
    }

    /// <summary>A Zipf(s) sampler over ranks 0..n-1 (rank 0 most popular), by inverse CDF.</summary>
    private static Func<Random, int> Zipf(int n, double s)
    {
        var cdf = new double[n];
        double sum = 0;
        for (var k = 0; k < n; k++) cdf[k] = sum += 1 / Math.Pow(k + 1, s);
        for (var k = 0; k < n; k++) cdf[k] /= sum;
        return r =>
        {
            var i = Array.BinarySearch(cdf, r.NextDouble());
            return Math.Min(n - 1, i < 0 ? ~i : i);
        };
    }
}
