using System.Diagnostics;
using System.Text.Json.Nodes;
using Catalog.Client;
using Catalog.Contracts;

namespace Catalog.LoadTests;

/// <summary>
/// What the read rule (issue 17) costs a caller bound by modes, against an admin (whom modes do not
/// bind, so its SQL carries no condition) on the same data in the same run. --files files in
/// directories of 1,000; a tenth of the directories closed (0750) and 100 files not everyone may
/// read (0600). Each door is timed as a median of --runs: a query's first page, the whole query
/// streamed, usage of the tree, a bulk lookup of 10,000 LFNs, and 2,000 cached single lookups.
/// The reader's answers are checked against what it may see.
/// </summary>
public static class ReadRuleBench
{
    public static async Task<int> RunAsync(Options o)
    {
        var admin = o.CreateClient();
        var root = $"/belle/readrule/{DateTime.UtcNow:yyyyMMddHHmmss}";
        await admin.PutStorageElementAsync("READRULE-SE", new StorageElementSpec("KEK", "root", "root://readrule.kek:1094//belle"));
        var dirs = Math.Max(10, o.Files / 1000);
        var lfns = Enumerable.Range(0, dirs * 1000).Select(i => $"{root}/d{i / 1000:D3}/f{i % 1000:D4}.root").ToList();
        await foreach (var r in admin.RegisterManyAsync(lfns.Select(l => new NewFile(l, 1000, "0000000a", Replicas: [new NewReplica("READRULE-SE")])), 5000, 2))
            if (r.Status == ItemStatus.Failed) throw new InvalidOperationException(r.Error!.Message);
        var closed = dirs / 10;
        for (var d = 0; d < closed; d++) await admin.ChangeModeAsync($"{root}/d{d:D3}", Convert.ToInt32("750", 8));
        var hiddenFiles = lfns.Skip(closed * 1000).Take(100).ToList();
        foreach (var lfn in hiddenFiles) await admin.ChangeModeAsync(lfn, Convert.ToInt32("600", 8));
        var visible = lfns.Count - closed * 1000 - hiddenFiles.Count;
        var token = (await admin.IssueTokenAsync(new TokenRequest("readrule-bench", ["reader"], ["storage.read:/belle"], ["readrule-bench"], 3600))).Token;
        var reader = (o with { Token = token }).CreateClient();
        var readable = lfns.Skip(closed * 1000).Skip(hiddenFiles.Count).ToList();
        Console.WriteLine($"{lfns.Count:N0} files in {dirs} directories, {closed} closed, {hiddenFiles.Count} private; the reader may see {visible:N0}");

        var summary = new JsonObject { ["scenario"] = "readrule", ["files"] = lfns.Count, ["closed_directories"] = closed, ["private_files"] = hiddenFiles.Count, ["runs"] = o.Runs };
        var query = new QueryRequest("size > 0", root, Limit: 1000);
        var random = new Random(42);
        var picks = Enumerable.Range(0, 2000).Select(_ => readable[random.Next(readable.Count)]).ToList();
        var bulk = Enumerable.Range(0, 10_000).Select(_ => readable[random.Next(readable.Count)]).ToList();
        foreach (var (name, work) in new (string, Func<CatalogClient, Task<long>>)[]
        {
            ("query_first_page", async x => (await x.QueryAsync(query)).Rows.Count),
            ("query_streamed", async x => await x.QueryAllAsync(query with { Limit = null }).CountAsync()),
            ("usage", async x => (await x.UsageAsync(root)).Files),
            ("bulk_lookup_10000", async x => await x.LookupAsync(bulk).CountAsync(h => h.Error is null)),
            ("cached_lookups_2000", async x => { foreach (var lfn in picks) await x.GetFileAsync(lfn); return picks.Count; }),
        })
        {
            var (adminMs, adminCount) = await MedianAsync(() => work(admin), o.Runs);
            var (readerMs, readerCount) = await MedianAsync(() => work(reader), o.Runs);
            var expected = name switch
            {
                "query_first_page" => (1000L, 1000L),
                "query_streamed" or "usage" => (lfns.Count, visible),
                "bulk_lookup_10000" => (10_000L, 10_000L),
                _ => (2000L, 2000L),
            };
            if ((adminCount, readerCount) != expected)
                throw new InvalidOperationException($"{name}: admin saw {adminCount}, reader {readerCount}; expected {expected}");
            summary[name] = new JsonObject { ["admin_ms"] = Math.Round(adminMs, 1), ["reader_ms"] = Math.Round(readerMs, 1), ["ratio"] = Math.Round(readerMs / adminMs, 2) };
            Console.WriteLine($"{name}: admin {adminMs:F1} ms, reader {readerMs:F1} ms, ratio {readerMs / adminMs:F2}");
        }
        // The reader never sees a hidden entry, whichever door.
        if ((await reader.QueryAllAsync(query with { Limit = null }).Select(r => r.Path).ToListAsync()).Intersect(hiddenFiles.Concat(lfns.Take(closed * 1000))).Any())
            throw new InvalidOperationException("the reader's query returned a hidden file");
        await Report.WriteAsync(o.Json, summary, null, "Read rule: reader against admin");
        return 0;
    }

    /// <summary>Median wall time of <paramref name="runs"/> timed calls after two untimed ones, and the last call's count.</summary>
    private static async Task<(double Ms, long Count)> MedianAsync(Func<Task<long>> work, int runs)
    {
        long count = 0;
        for (var i = 0; i < 2; i++) count = await work();
        var times = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            var t = Stopwatch.StartNew();
            count = await work();
            times.Add(t.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return (times[times.Count / 2], count);
    }
}
