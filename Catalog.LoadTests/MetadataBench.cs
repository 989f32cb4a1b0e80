using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Catalog.Client;
using Catalog.Contracts;
using Npgsql;

namespace Catalog.LoadTests;

/// <summary>
/// The metadata catalog at scale: builds (once) a catalog of --files files in more than 100,000
/// directories under /belle/bench carrying the DOMAIN.md attributes, then times through the API a
/// three-condition dataset query returning 1,000 rows and the facets of a campaign, each beside
/// the same SQL forced to a sequential scan (EXPLAIN ANALYZE with index scans disabled) in the same run.
/// </summary>
public static class MetadataBench
{
    private const string Root = "/belle/bench";
    private static readonly string[] Campaigns = ["MC13a", "MC14ri", "MC15ri"];
    private static readonly string[] Releases = ["release-05-02-00", "release-06-00-08", "release-07-00-00", "release-08-01-00"];
    private static readonly string[] Beams = ["4S", "5S", "offres"];
    private static readonly string[] EventTypes = ["mixed", "charged", "uubar", "ddbar", "ssbar", "ccbar"];
    private static readonly string[] Levels = ["mdst", "udst"];
    private static readonly int[] Experiments = Enumerable.Range(7, 12).ToArray();
    private const int Runs = 10;
    private static int Datasets => Campaigns.Length * Releases.Length * Beams.Length * EventTypes.Length * Levels.Length * Experiments.Length * Runs;

    public const string DatasetQuery = "experiment between 7 and 10 and mcEventType in ('mixed','charged') and release = 'release-08-01-00'";
    public const string CampaignQuery = "campaign = 'MC15ri'";
    public static readonly string[] FacetAttributes = ["dataType", "beamEnergy", "bgLevel", "dataLevel", "mcEventType", "release", "globalTag", "experiment"];

    public static async Task<int> RunAsync(Options o, int runs)
    {
        var client = o.CreateClient();
        await using var db = NpgsqlDataSource.Create(o.Postgres);
        var perDataset = (int)Math.Ceiling(o.Files / (double)Datasets);
        var existing = await ScalarAsync<long>(db, $"select count(*) from directory where path > '{Root}/' and path < '{Root}0' and kind = 2");
        double? buildSeconds = null, indexSeconds = null;
        if (existing == 0)
            (buildSeconds, indexSeconds) = await BuildAsync(client, db, perDataset);
        else
            Console.WriteLine($"reusing the catalog under {Root} ({existing:N0} datablocks)");
        var files = await ScalarAsync<long>(db, $"select coalesce(sum(u.files), 0) from directory d join directory_usage u on u.dir_id = d.id and u.se_id = 0 where d.path > '{Root}/' and d.path < '{Root}0'");
        var directories = await ScalarAsync<long>(db, $"select count(*) from directory where path > '{Root}/' and path < '{Root}0'");
        Console.WriteLine($"catalog: {files:N0} files in {directories:N0} directories under {Root}");

        var query = new QueryRequest(DatasetQuery, Root, Attributes: ["nEvents", "experiment"], Limit: 1000);
        var facets = new FacetRequest(CampaignQuery, Root, FacetAttributes);
        var (queryMs, rows) = await TimeAsync(runs, async () => (await client.QueryAsync(query)).Rows.Count);
        var (facetMs, total) = await TimeAsync(runs, async () => (int)(await client.FacetsAsync(facets)).Total);
        var queryPlan = await client.ExplainQueryAsync(query);
        var facetPlan = await client.ExplainFacetsAsync(facets);
        var querySeq = await ExecutionTimesAsync(3, () => client.ExplainQueryAsync(query, forceSequentialScan: true));
        var facetSeq = await ExecutionTimesAsync(3, () => client.ExplainFacetsAsync(facets, forceSequentialScan: true));

        var report = new JsonObject
        {
            ["scenario"] = "metadata",
            ["files"] = files,
            ["directories"] = directories,
            ["build_seconds"] = buildSeconds,
            ["index_nEvents_seconds"] = indexSeconds,
            ["dataset_query"] = Figure(DatasetQuery, rows, queryMs, querySeq, ExecutionTime(queryPlan)),
            ["campaign_facets"] = Figure($"{CampaignQuery}; facets {string.Join(",", FacetAttributes)}", total, facetMs, facetSeq, ExecutionTime(facetPlan)),
        };
        Console.WriteLine(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        if (o.Json is not null) await File.WriteAllTextAsync(o.Json, report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        if (Environment.GetEnvironmentVariable("CATALOG_BENCH_PLANS") is { } planFile)
            await File.WriteAllTextAsync(planFile, $"-- {DatasetQuery}\n{string.Join('\n', queryPlan)}\n\n-- forced sequential scan\n{string.Join('\n', await client.ExplainQueryAsync(query, true))}\n\n-- facets: {CampaignQuery}\n{string.Join('\n', facetPlan)}\n\n-- forced sequential scan\n{string.Join('\n', await client.ExplainFacetsAsync(facets, true))}\n");
        return rows == 1000 ? 0 : 1;
    }

    private static JsonObject Figure(string what, int result, List<double> ms, List<double> seqMs, double serverMs)
    {
        ms.Sort();
        seqMs.Sort();
        return new JsonObject
        {
            ["query"] = what,
            ["result"] = result,
            ["operations"] = ms.Count,
            ["p50_ms"] = Math.Round(ms[ms.Count / 2], 2),
            ["p95_ms"] = Math.Round(ms[(int)(ms.Count * 0.95)], 2),
            ["max_ms"] = Math.Round(ms[^1], 2),
            ["server_execution_ms"] = Math.Round(serverMs, 2),
            ["baseline"] = "the same SQL with index scans disabled (EXPLAIN ANALYZE execution time, median of 3)",
            ["baseline_ms"] = Math.Round(seqMs[seqMs.Count / 2], 2),
            ["ratio"] = Math.Round(ms[ms.Count / 2] / seqMs[seqMs.Count / 2], 4),
        };
    }

    private static async Task<(List<double> Ms, int Result)> TimeAsync(int runs, Func<Task<int>> work)
    {
        var result = 0;
        for (var i = 0; i < 10; i++) result = await work(); // warm-up: JIT tiers and caches settle
        var times = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            var clock = Stopwatch.StartNew();
            result = await work();
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        return (times, result);
    }

    private static async Task<List<double>> ExecutionTimesAsync(int runs, Func<Task<IReadOnlyList<string>>> explain)
    {
        var times = new List<double>();
        for (var i = 0; i < runs; i++) times.Add(ExecutionTime(await explain()));
        return times;
    }

    private static double ExecutionTime(IReadOnlyList<string> plan) =>
        double.Parse(plan.Last(l => l.StartsWith("Execution Time:", StringComparison.Ordinal)).Split(' ')[2], CultureInfo.InvariantCulture);

    /// <summary>
    /// Declarations through the API; directories and files generated inside PostgreSQL (no
    /// client round trips), campaign by campaign; the indexed file attribute declared last, so
    /// its index build over every file is timed on its own.
    /// </summary>
    private static async Task<(double Build, double Index)> BuildAsync(CatalogClient client, NpgsqlDataSource db, int perDataset)
    {
        var clock = Stopwatch.StartNew();
        await client.MakeDirectoryAsync(Root, parents: true);
        foreach (var (name, type, allowed) in new (string, AttributeType, string[]?)[]
        {
            ("dataType", AttributeType.String, ["mc", "data"]), ("campaign", AttributeType.String, null), ("beamEnergy", AttributeType.String, Beams),
            ("bgLevel", AttributeType.String, ["BGx0", "BGx1"]), ("mcEventType", AttributeType.String, null), ("dataLevel", AttributeType.String, ["raw", "mdst", "udst"]),
            ("release", AttributeType.String, null), ("globalTag", AttributeType.String, null),
        })
            await DeclareAsync(client, new AttributeSpec(Root, name, type, AttributeTarget.Directories, allowed?.Select(a => (JsonNode?)a).ToList()));
        await DeclareAsync(client, new AttributeSpec(Root, "experiment", AttributeType.Integer, AttributeTarget.Directories, Indexed: true));
        await DeclareAsync(client, new AttributeSpec(Root, "runLow", AttributeType.Integer, AttributeTarget.Files));
        await DeclareAsync(client, new AttributeSpec(Root, "runHigh", AttributeType.Integer, AttributeTarget.Files));

        var levels = new[]
        {
            Campaigns, Releases, Beams, EventTypes, Levels,
            Experiments.Select(e => $"e{e:D4}").ToArray(),
            Enumerable.Range(0, Runs).Select(r => $"r{r:D5}").ToArray(),
            ["sub00"],
        };
        var depth = Root.Count(c => c == '/');
        for (var level = 0; level < levels.Length; level++)
        {
            var kind = level == 6 ? 1 : level == 7 ? 2 : 0;
            await ExecAsync(db, $"""
                insert into directory (parent_id, name, path, owner, grp, mode, kind)
                select p.id, n, p.path || '/' || n, 'bench', 'belle', 493, {kind}
                from directory p, unnest(@names::text[]) n
                where (p.path = '{Root}' or (p.path > '{Root}/' and p.path < '{Root}0')) and array_length(string_to_array(p.path, '/'), 1) = {depth + level + 1}
                """, ("names", levels[level]));
            Console.WriteLine($"  directories level {level + 1}/{levels.Length} ({clock.Elapsed.TotalSeconds:F0} s)");
        }
        // Dataset metadata from the path: .../campaign/release/beam/eventType/level/eNNNN/rNNNNN
        int C(int n) => depth + 1 + n;
        await ExecAsync(db, $"""
            update directory set metadata = jsonb_build_object(
                'dataType', 'mc', 'campaign', split_part(path, '/', {C(1)}), 'release', split_part(path, '/', {C(2)}),
                'beamEnergy', split_part(path, '/', {C(3)}), 'mcEventType', split_part(path, '/', {C(4)}), 'dataLevel', split_part(path, '/', {C(5)}),
                'experiment', substr(split_part(path, '/', {C(6)}), 2)::int, 'bgLevel', 'BGx1',
                'globalTag', 'mc_' || replace(split_part(path, '/', {C(2)}), 'release-', ''))
            where kind = 1 and path > '{Root}/' and path < '{Root}0';
            update directory d set eff_metadata = coalesce(p.metadata, d.metadata)
            from directory p where p.id = coalesce(case when d.kind = 2 then d.parent_id end, d.id) and d.kind in (1, 2)
              and d.path > '{Root}/' and d.path < '{Root}0';
            insert into dataset (dir_id, max_files, current_block, current_count)
            select id, 1000, 0, {perDataset} from directory where kind = 1 and path > '{Root}/' and path < '{Root}0';
            """);
        foreach (var campaign in Campaigns)
        {
            await ExecAsync(db, $"""
                insert into file (dir_id, name, guid, size, adler32, owner, grp, mode, metadata)
                select b.id, format('mdst_%s_b%s.root', lpad(n::text, 6, '0'), b.id), gen_random_uuid(), 1500000000 + (b.id * 7919 + n) % 500000000,
                       ((b.id * 2654435761 + n * 40503) % 2147483647)::int, 'bench', 'belle', 420,
                       jsonb_build_object('nEvents', 1000 + (b.id * 31 + n * 17) % 9000, 'runLow', n * 10, 'runHigh', n * 10 + 9)
                from directory b cross join generate_series(1, {perDataset}) n
                where b.kind = 2 and b.path > '{Root}/{campaign}/' and b.path < '{Root}/{campaign}0'
                """);
            Console.WriteLine($"  files of {campaign} ({clock.Elapsed.TotalSeconds:F0} s)");
        }
        await ExecAsync(db, "analyze directory; analyze file; analyze directory_usage");
        var build = clock.Elapsed.TotalSeconds;
        var index = Stopwatch.StartNew();
        await DeclareAsync(client, new AttributeSpec(Root, "nEvents", AttributeType.Integer, AttributeTarget.Files, Indexed: true));
        Console.WriteLine($"built in {build:F0} s; declaring the indexed nEvents over every file took {index.Elapsed.TotalSeconds:F1} s");
        return (build, index.Elapsed.TotalSeconds);
    }

    /// <summary>A declaration left by an interrupted build is fine.</summary>
    private static async Task DeclareAsync(CatalogClient client, AttributeSpec spec)
    {
        try { await client.DeclareAttributeAsync(spec); }
        catch (CatalogConflictException) { }
    }

    private static async Task ExecAsync(NpgsqlDataSource db, string sql, params (string Name, object Value)[] parameters)
    {
        await using var cmd = db.CreateCommand(sql);
        cmd.CommandTimeout = 0;
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlDataSource db, string sql)
    {
        await using var cmd = db.CreateCommand(sql);
        return (T)Convert.ChangeType((await cmd.ExecuteScalarAsync())!, typeof(T), CultureInfo.InvariantCulture);
    }
}
