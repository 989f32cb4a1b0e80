namespace Catalog.LoadTests;

public static class Cli
{
    public const string Usage = """
        usage: Catalog.LoadTests sizing [--url http://127.0.0.1:5080] [--files 100000] [--batch 10000]
                                        [--concurrency 2] [--pg "<connection string>"] [--json PATH] [--token T]
          sizing  registers --files files (two replicas each, DOMAIN.md-style LFNs, 1,000 per
                  datablock) through the API, then reports bytes per file on disk per relation,
                  and the API registration rate beside a binary COPY of the same rows.
          metadata  builds once (inside PostgreSQL) a catalog of --files files in >100,000
                  directories under /belle/bench with the DOMAIN.md attributes, then times a
                  three-condition dataset query (1,000 rows) and a campaign's facets through the
                  API beside the same SQL forced to a sequential scan. --runs N (default 20).
          storm   --jobs grid jobs (default 20,000) finish within --window seconds (10), each
                  registering one file into a dataset in one request, at most --concurrency
                  in flight (pass 2000); verifies lost/duplicated; baseline: COPY of the rows.
                  First an unmeasured storm of --warmup jobs (20,000; 0 for none) into another
                  directory, so the server has compiled its code as a server in service has.
          lookup  registers --files files, then times bulk lookups of 10,000 LFNs and, for
                  --window seconds, single-LFN lookups (Zipf popularity) at --concurrency,
                  beside a constant JSON of the same size from the same server (after a
                  warm-up of the same length, so the cache holds the popular LFNs); then the
                  same lookups at half the baseline's rate on a fixed schedule (latency at the
                  target load, counted from each request's due time).
          mixed   a storm (as above) while --analysts (default 64) look up single LFNs the
                  storm already acknowledged; a lookup that misses one counts as an error.
          bulk    registration in batches of --batch (1,000) of --files (1,000,000) files, 4
                  batches in flight, beside a binary COPY of the same rows (what sizing does,
                  with the production system's batch size); first --warmup files (50,000; 0
                  for none) into another directory, not measured.
          production  against a running ./run.sh: plans a --plan-jobs (1,000,000) job production
                  (held) beside a COPY of as many rows, times its status (median of --runs)
                  beside /readyz, then runs a --jobs (default here 2,000) production end to end
                  beside the raw pipeline (sbatch arrays + xrdcp + bulk registration);
                  --production-url (from .data/production-url), --data (.data).
          transfer  against a running ./run.sh: a rule copying --files (1,000) files of --size
                  (65,536) bytes KEK-DISK -> DESY-DISK, files/s beside plain xrdcp --tpc only of
                  the same files at --concurrency (16); then a rule over --eval-files (1,000,000)
                  registered files whose copies are in place, beside reading them alone; then a
                  consistency check of those files on KEK-DISK beside the SE's own listing.
                  --transfer-url (from .data/transfer-url), --data (.data); --eval-dataset PATH
                  evaluates again over an earlier run's files (printed by it), nothing else.
          monitor  against a running ./run.sh: a monitor of its own on database monitor_bench;
                  the dashboard's first render in Chromium (median of --runs, default here 5)
                  for 24 hours and 30 days over an empty history, then over 30 days of
                  one-minute history for --sites (50) sites; then its SE probe beside the same
                  xrdcp/xrdfs calls made directly, and CPU per probe cycle. --keep 1 keeps the
                  database, --reuse 1 measures a kept one again. --data (.data).
          readrule what the read rule costs a reader (bound by modes) against an admin on the
                  same --files (100,000) files, a tenth of their directories closed: a query's
                  first page and its whole stream, usage, a bulk lookup and cached single lookups
                  (median of --runs, default here 11), each answer checked.
          bulkupdate  SQL only (--pg): a bulk metadata update of --files (10,000) scratch file rows
                  on a connection that made one-row updates first, beside the same update on a
                  fresh connection (median of --runs, default here 3); all rolled back, the
                  scratch rows removed after.
        Every scenario writes --json PATH and, beside it, PATH.md (a report) and, for storm,
        mixed and lookup, PATH.svg (throughput and latency over time).
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help") { Console.WriteLine(Usage); return args.Length == 0 ? 2 : 0; }
        var options = Options.Parse(args[1..]);
        if (options is null) { Console.Error.WriteLine(Usage); return 2; }
        if (!options.Url.IsLoopback) { Console.Error.WriteLine("--url must be a loopback address (127.0.0.1)"); return 2; }
        return args[0] switch
        {
            "sizing" => await Sizing.RunAsync(options),
            "metadata" => await MetadataBench.RunAsync(options, options.Runs),
            "storm" => await Storm.RunAsync(options, options.Jobs, options.Window),
            "lookup" => await Lookup.RunAsync(options, options.Window),
            "mixed" => await Storm.RunAsync(options, options.Jobs, options.Window, analysts: Math.Max(1, options.Analysts)),
            "bulk" => await Sizing.RunAsync(options with
            {
                Files = args.Contains("--files") ? options.Files : 1_000_000,
                Batch = args.Contains("--batch") ? options.Batch : 1_000,
                Concurrency = args.Contains("--concurrency") ? options.Concurrency : 4,
                Warmup = args.Contains("--warmup") ? options.Warmup : 50_000,
            }, "bulk"),
            "production" => await ProductionBench.RunAsync(options with { Jobs = args.Contains("--jobs") ? options.Jobs : 2000 },
                new Uri(Value(args, "--production-url") ?? (File.Exists(".data/production-url") ? File.ReadAllText(".data/production-url").Trim() : "http://127.0.0.1:5090")),
                Path.GetFullPath(Value(args, "--data") ?? ".data"), int.Parse(Value(args, "--plan-jobs") ?? "1000000")),
            "transfer" => await TransferBench.RunAsync(options with
                {
                    Files = args.Contains("--files") ? options.Files : 1000,
                    Concurrency = args.Contains("--concurrency") ? options.Concurrency : 16,
                },
                new Uri(Value(args, "--transfer-url") ?? (File.Exists(".data/transfer-url") ? File.ReadAllText(".data/transfer-url").Trim() : "http://127.0.0.1:5091")),
                Path.GetFullPath(Value(args, "--data") ?? ".data"), int.Parse(Value(args, "--eval-files") ?? "1000000"), int.Parse(Value(args, "--size") ?? "65536"),
                Value(args, "--eval-dataset")),
            "bulkupdate" => await BulkUpdateBench.RunAsync(options with
            {
                Files = args.Contains("--files") ? options.Files : 10_000,
                Runs = args.Contains("--runs") ? options.Runs : 3,
            }),
            "readrule" => await ReadRuleBench.RunAsync(options with { Runs = args.Contains("--runs") ? options.Runs : 11 }),
            "monitor" => await MonitorBench.RunAsync(options with { Runs = args.Contains("--runs") ? options.Runs : 5 }, Path.GetFullPath(Value(args, "--data") ?? ".data"),
                int.Parse(Value(args, "--sites") ?? "50"), Value(args, "--keep") == "1", Value(args, "--reuse") == "1"),
            _ => Fail($"unknown scenario '{args[0]}'"),
        };
    }

    private static string? Value(string[] args, string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;

    private static int Fail(string message)
    {
        Console.Error.WriteLine(message);
        Console.Error.WriteLine(Usage);
        return 2;
    }
}

public sealed record Options(Uri Url, int Files, int Batch, int Concurrency, string Postgres, string? Json, string? Token, int Runs = 20,
    int Jobs = 20_000, double Window = 10, int Analysts = 64, int Warmup = 20_000)
{
    /// <summary>A client of the server under test (token from --token, CATALOG_TOKEN or ./run.sh's admin token).</summary>
    public Client.CatalogClient CreateClient() => Client.CatalogClient.Create(new Client.CatalogClientOptions
    {
        BaseAddress = Url,
        Token = Token,
        Timeout = TimeSpan.FromMinutes(5),
        OnRetry = r => Retries.AddOrUpdate(r.Reason, 1, (_, n) => n + 1),
    });

    /// <summary>
    /// Every retry any client of this run made, by reason: a run that needed retries (a 429 from
    /// the server's rate limit, a 503) measured the limit, not the catalog, and says so.
    /// </summary>
    public static System.Collections.Concurrent.ConcurrentDictionary<string, int> Retries { get; } = new();

    public static Options? Parse(string[] args)
    {
        var adminToken = Path.Combine(".data", "auth", "admin.token");
        var o = new Options(new Uri("http://127.0.0.1:5080"), 100_000, 10_000, 2,
            Environment.GetEnvironmentVariable("ConnectionStrings__Catalog") ?? "Host=127.0.0.1;Port=55432;Username=postgres;Database=catalog", null,
            Environment.GetEnvironmentVariable("CATALOG_TOKEN") ?? (File.Exists(adminToken) ? File.ReadAllText(adminToken).Trim() : null));
        for (var i = 0; i < args.Length; i += 2)
        {
            if (i + 1 >= args.Length) return null;
            var v = args[i + 1];
            o = args[i] switch
            {
                "--url" => o with { Url = new Uri(v) },
                "--files" => o with { Files = int.Parse(v) },
                "--batch" => o with { Batch = int.Parse(v) },
                "--concurrency" => o with { Concurrency = int.Parse(v) },
                "--pg" => o with { Postgres = v },
                "--json" => o with { Json = v },
                "--token" => o with { Token = v },
                "--runs" => o with { Runs = int.Parse(v) },
                "--jobs" => o with { Jobs = int.Parse(v) },
                "--warmup" => o with { Warmup = int.Parse(v) },
                "--analysts" => o with { Analysts = int.Parse(v) },
                "--production-url" or "--data" or "--plan-jobs" or "--transfer-url" or "--eval-files" or "--eval-dataset" or "--size" or "--sites" or "--keep" or "--reuse" => o,
                "--window" => o with { Window = double.Parse(v, System.Globalization.CultureInfo.InvariantCulture) },
                _ => null,
            };
            if (o is null) return null;
        }
        return o;
    }
}
