using System.Globalization;
using System.CommandLine;
using System.Text.Json.Nodes;
using Catalog.Contracts;

namespace Catalog.Cli;

internal sealed partial class Commands
{
    private Command Meta()
    {
        var meta = new Command("meta", "Metadata values on files and directories: set, get, rm.");
        Examples[meta] = "catalog meta set /belle/MC/.../mixed/mdst release=release-08-01-00";

        var path = new Argument<string>("path");
        var pairs = new Argument<string[]>("values") { Arity = ArgumentArity.OneOrMore, Description = "key=value (values that parse as JSON are typed: 7, true)" };
        meta.Subcommands.Add(Define("set", "Set attribute values on a file or directory (checked against the schema in force).",
            "catalog meta set /belle/user/alice/f.root nEvents=5000 site=KEK", async (run, ct) =>
                await WriteMetaAsync(run, run.Get(path)!, ParseMeta(run.Get(pairs))!, ct), path, pairs));

        var keys = new Argument<string[]>("names") { Arity = ArgumentArity.OneOrMore };
        meta.Subcommands.Add(Define("rm", "Remove attribute values from a file or directory.", "catalog meta rm /belle/user/alice/f.root site", async (run, ct) =>
        {
            var values = new JsonObject();
            foreach (var k in run.Get(keys)!) values[k] = null;
            return await WriteMetaAsync(run, run.Get(path)!, values, ct);
        }, path, keys));

        var paths = new Argument<string[]>("paths") { Arity = ArgumentArity.ZeroOrMore, Description = "Files or directories; '-' or a pipe reads them from standard input" };
        var own = new Option<bool>("--own") { Description = "Only the entry's own values, not those inherited from its directories" };
        meta.Subcommands.Add(Define("get", "Show the values of files or directories (own and inherited), in bulk.", "catalog meta get /belle/user/alice/f.root", async (run, ct) =>
        {
            var failed = 0;
            await foreach (var chunk in ValuesOrStdin(run.Get(paths), console).Chunk(10_000).WithCancellation(ct))
            {
                var response = await run.Client.GetMetadataAsync(chunk, ct);
                foreach (var r in response.Results)
                {
                    if (r.Error is not null) { failed++; console.Error.WriteLine($"catalog: {r.Path}: {Output.Error(r.Error)}"); continue; }
                    if (run.Json) { Output.WriteJsonLine(run.Out, r); continue; }
                    run.Out.WriteLine(r.Path);
                    var values = run.Get(own) ? r.Own! : r.Effective!;
                    foreach (var (k, v) in values.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                        run.Out.WriteLine($"  {k} = {v?.ToJsonString()}{(r.Own!.ContainsKey(k) ? "" : "   (inherited)")}");
                }
            }
            return failed == 0 ? CatalogCli.Ok : CatalogCli.Partial;
        }, paths, own));
        return meta;
    }

    private async Task<int> WriteMetaAsync(CommandRun run, string path, JsonObject values, CancellationToken ct)
    {
        var result = (await run.Client.SetMetadataAsync([new MetadataWrite(path, values)], ct)).Results[0];
        if (run.Json) Output.WriteJson(run.Out, result);
        if (result.Error is null) return CatalogCli.Ok;
        console.Error.WriteLine($"catalog: {path}: {Output.Error(result.Error)}");
        return CatalogCli.Partial;
    }

    private Command Attr()
    {
        var attr = new Command("attr", "Attribute schemas: ls (in force at a path), add, extend, rm (admin).");
        Examples[attr] = "catalog attr add /belle/MC nEvents integer --indexed";
        var path = new Argument<string>("path");
        attr.Subcommands.Add(Define("ls", "The attributes in force at a path, where each is declared.", "catalog attr ls /belle/MC/release-08-01-00", async (run, ct) =>
        {
            var schema = await run.Client.GetSchemaAsync(run.Get(path)!, ct);
            if (run.Json) { Output.WriteJson(run.Out, schema); return CatalogCli.Ok; }
            Output.WriteTable(run.Out, ["name", "type", "on", "indexed", "allowed", "declared at"],
                schema.Attributes.Select(a => (IReadOnlyList<string>)[a.Name, Lower(a.Type), Lower(a.Target), a.Indexed ? "yes" : "no",
                    (a.Allowed is null ? "" : string.Join(",", a.Allowed.Select(v => v?.ToJsonString()))) + (a.Pattern is null ? "" : $"matching {a.Pattern}"), a.DefinedAt]));
            run.Out.WriteLine(schema.Permissive ? $"undeclared attributes allowed (policy at {schema.PolicySetAt})" : "undeclared attributes refused");
            return CatalogCli.Ok;
        }, path));

        var name = new Argument<string>("name");
        var type = new Argument<AttributeType>("type") { Description = "integer, float, string, boolean or timestamp" };
        var dirs = new Option<bool>("--directories") { Description = "Carried by directories (datasets) and inherited below, instead of by files" };
        var allowed = new Option<string[]>("--allowed") { Description = "An allowed value (repeatable; JSON when it parses)" };
        var indexed = new Option<bool>("--indexed") { Description = "Build an index for range and equality queries" };
        var pattern = new Option<string?>("--pattern") { Description = "For strings: a regular expression every value must match in full" };
        attr.Subcommands.Add(Define("add", "Declare a typed attribute for a directory's subtree.", "catalog attr add /belle/MC mcEventType string --directories --allowed mixed --allowed charged",
            async (run, ct) =>
            {
                var values = run.Get(allowed) is { Length: > 0 } a ? a.Select(v => ParseMeta([$"v={v}"])!["v"]?.DeepClone()).ToList() : null;
                var schema = await run.Client.DeclareAttributeAsync(new AttributeSpec(run.Get(path), run.Get(name), run.Get(type),
                    run.Get(dirs) ? AttributeTarget.Directories : AttributeTarget.Files, values, run.Get(indexed), run.Get(pattern)), ct);
                if (run.Json) Output.WriteJson(run.Out, schema);
                else run.Out.WriteLine($"{run.Get(name)} is declared at {run.Get(path)}");
                return CatalogCli.Ok;
            }, path, name, type, dirs, allowed, indexed, pattern));
        var more = new Option<string[]>("--allowed") { Description = "A value to allow (repeatable; JSON when it parses)", Required = true };
        attr.Subcommands.Add(Define("extend", "Add allowed values to a declaration made at a path (admin); stored values are never rechecked.",
            "catalog attr extend /belle/MC mcEventType --allowed taupair", async (run, ct) =>
            {
                var values = run.Get(more)!.Select(v => ParseMeta([$"v={v}"])!["v"]?.DeepClone()).ToList();
                var schema = await run.Client.ExtendAllowedValuesAsync(run.Get(path)!, run.Get(name)!, values, ct);
                if (run.Json) { Output.WriteJson(run.Out, schema); return CatalogCli.Ok; }
                var now = schema.Attributes.Single(a => a.Name == run.Get(name));
                run.Out.WriteLine($"{now.Name} now allows {string.Join(", ", now.Allowed!.Select(v => v?.ToJsonString()))}");
                return CatalogCli.Ok;
            }, path, name, more));
        attr.Subcommands.Add(Define("rm", "Remove a declaration (once nothing carries the attribute).", "catalog attr rm /belle/MC nEvents", async (run, ct) =>
        {
            var schema = await run.Client.RemoveAttributeAsync(run.Get(path)!, run.Get(name)!, ct);
            if (run.Json) Output.WriteJson(run.Out, schema);
            return CatalogCli.Ok;
        }, path, name));
        return attr;
    }

    private Command Query()
    {
        var condition = new Argument<string>("condition") { Description = "e.g. \"experiment between 7 and 10 and mcEventType in ('mixed','charged')\"" };
        var under = new Option<string>("--under") { Description = "Search below this path or collection", DefaultValueFactory = _ => "/belle" };
        var attrs = new Option<string?>("--attrs") { Description = "Attributes to show, comma separated (AMGA's selectattr)" };
        var datasets = new Option<bool>("--datasets") { Description = "Match datasets instead of files" };
        var limit = new Option<int?>("--limit", "-n") { Description = "At most this many results (default: all, streamed)" };
        return Define("query", "Find files (or datasets) by metadata (like mdcli selectattr); the language is in docs/QUERY.md.",
            "catalog query \"release = 'release-08-01-00' and nEvents > 1000\" --under /belle/MC --attrs nEvents,experiment", async (run, ct) =>
            {
                var names = run.Get(attrs)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                var request = new QueryRequest(run.Get(condition), run.Get(under), run.Get(datasets) ? QueryTarget.Datasets : QueryTarget.Files, names);
                var max = run.Get(limit);
                if (max is < 1) throw new CliUsageException("--limit must be at least 1");
                var rows = max is { } m
                    ? (await run.Client.QueryAsync(request with { Limit = Math.Min(m, 10_000) }, ct)).Rows.ToAsyncEnumerable()
                    : run.Client.QueryAllAsync(request, ct);
                await foreach (var row in rows.WithCancellation(ct))
                {
                    if (run.Json) { Output.WriteJsonLine(run.Out, row); continue; }
                    run.Out.WriteLine(names is null ? row.Path : row.Path + "  " + string.Join("  ", names.Select(n => $"{n}={row.Attributes?[n]?.ToJsonString() ?? "-"}")));
                }
                return CatalogCli.Ok;
            }, condition, under, attrs, datasets, limit);
    }

    private Command Facets()
    {
        var condition = new Argument<string?>("condition") { Arity = ArgumentArity.ZeroOrOne, Description = "Optional condition; all of --under without one" };
        var under = new Option<string>("--under") { Description = "Below this path or collection", DefaultValueFactory = _ => "/belle" };
        var attrs = new Option<string>("--attrs") { Description = "Attributes to count, comma separated", Required = true };
        var datasets = new Option<bool>("--datasets") { Description = "Count datasets instead of files" };
        return Define("facets", "Distinct values with counts, the way a dataset search page shows them.",
            "catalog facets --under /belle/MC --attrs mcEventType,release,experiment \"dataLevel = 'mdst'\"", async (run, ct) =>
            {
                var response = await run.Client.FacetsAsync(new FacetRequest(run.Get(condition), run.Get(under),
                    run.Get(attrs)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                    run.Get(datasets) ? QueryTarget.Datasets : QueryTarget.Files), ct);
                if (run.Json) { Output.WriteJson(run.Out, response); return CatalogCli.Ok; }
                run.Out.WriteLine($"{Output.Count(response.Total)} {(run.Get(datasets) ? "datasets" : "files")}");
                foreach (var facet in response.Facets)
                {
                    run.Out.WriteLine($"{facet.Attribute}:");
                    foreach (var v in facet.Values) run.Out.WriteLine($"  {v.Value?.ToJsonString(),-40} {Output.Count(v.Count),12}");
                }
                return CatalogCli.Ok;
            }, condition, under, attrs, datasets);
    }

    private Command Dataset()
    {
        var dataset = new Command("dataset", "Datasets (LPNs): ls, info (summary), create.");
        Examples[dataset] = "catalog dataset info /belle/MC/release-08-01-00/DB00002100/MC15ri/prod00024816/s00/e1003/4S/r00000/mixed/mdst";
        var under = new Argument<string>("under") { Arity = ArgumentArity.ZeroOrOne, DefaultValueFactory = _ => "/belle" };
        var minFiles = new Option<long?>("--min-files") { Description = "Only datasets with at least this many files" };
        var maxFiles = new Option<long?>("--max-files") { Description = "Only datasets with at most this many files" };
        var since = new Option<DateTimeOffset?>("--since") { Description = "Only datasets created at or after this time (ISO 8601)" };
        var until = new Option<DateTimeOffset?>("--until") { Description = "Only datasets created before this time (ISO 8601)" };
        var expired = new Option<bool>("--expired") { Description = "Only datasets whose lifetime has passed (flagged for deletion)" };
        dataset.Subcommands.Add(Define("ls", "Datasets at or below a path, with their length and creation time, optionally within windows of both.",
            "catalog dataset ls /belle/MC --min-files 1 --since 2026-11-01", async (run, ct) =>
        {
            string? after = null;
            var first = true;
            do
            {
                var page = run.Get(expired)
                    ? await run.Client.ListExpiredDatasetsAsync(run.Get(under)!, after, 1000, ct)
                    : await run.Client.ListDatasetsAsync(run.Get(under)!, run.Get(minFiles), run.Get(maxFiles), run.Get(since), run.Get(until), after, 1000, ct);
                if (run.Json) foreach (var d in page) Output.WriteJsonLine(run.Out, d);
                else Output.WriteTable(run.Out, ["files", "created", "state", "dataset"],
                    page.Select(d => (IReadOnlyList<string>)[Output.Count(d.Files ?? 0), d.Created is { } c ? Output.Time(c) : "-", Lower(d.State), d.Path]), header: first, 0);
                first = false;
                after = page.Count == 1000 ? page[^1].Path : null;
            } while (after is not null);
            return CatalogCli.Ok;
        }, under, minFiles, maxFiles, since, until, expired));

        var path = new Argument<string>("lpn");
        dataset.Subcommands.Add(Define("info", "A dataset's files, bytes, events, experiment and run ranges, and replicas per SE.", "catalog dataset info /belle/MC/.../mixed/mdst",
            async (run, ct) =>
            {
                var s = await run.Client.GetDatasetSummaryAsync(run.Get(path)!, ct);
                if (run.Json) { Output.WriteJson(run.Out, s); return CatalogCli.Ok; }
                var info = await run.Client.GetDatasetAsync(s.Path, ct);
                run.Out.WriteLine($"Dataset:     {s.Path}");
                run.Out.WriteLine($"State:       {Lower(info.State)}{(info.Expires is { } e ? $", expires {Output.Time(e)}" : "")}");
                PrintTotals(run.Out, s.Files, s.Datablocks, s.Bytes, s.Events, s.ExperimentLow, s.ExperimentHigh, s.RunLow, s.RunHigh, s.Metadata, s.PerStorageElement);
                return CatalogCli.Ok;
            }, path));

        dataset.Subcommands.Add(Define("close", "Close a dataset: no more files go into it, and it may go into collections.", "catalog dataset close /belle/MC/.../mixed/mdst",
            async (run, ct) => Said(run, await run.Client.CloseDatasetAsync(run.Get(path)!, ct)), path));
        dataset.Subcommands.Add(Define("reopen", "Let files into a closed dataset again (data managers).", "catalog dataset reopen /belle/MC/.../mixed/mdst",
            async (run, ct) => Said(run, await run.Client.ReopenDatasetAsync(run.Get(path)!, ct)), path));
        var untilTime = new Option<DateTimeOffset?>("--until") { Description = "The end of its lifetime (ISO 8601); after it the dataset is flagged for deletion" };
        var forever = new Option<bool>("--forever") { Description = "No end" };
        dataset.Subcommands.Add(Define("lifetime", "Set a dataset's lifetime; past it, it is listed by dataset ls --expired (flagged for deletion).",
            "catalog dataset lifetime /belle/user/alice/skim --until 2027-06-30", async (run, ct) =>
            {
                if (run.Get(untilTime) is null == !run.Get(forever)) throw new CliUsageException("give --until TIME or --forever");
                return Said(run, await run.Client.SetDatasetLifetimeAsync(run.Get(path)!, run.Get(untilTime), ct));
            }, path, untilTime, forever));

        var meta = new Option<string[]>("--meta") { Description = "Dataset metadata key=value (repeatable)" };
        var block = new Option<int?>("--block-size") { Description = "Files per datablock (default 1000)" };
        dataset.Subcommands.Add(Define("create", "Mark a directory (created if needed) as a dataset with its metadata.",
            "catalog dataset create /belle/MC/.../mixed/mdst --meta mcEventType=mixed --meta release=release-08-01-00", async (run, ct) =>
            {
                var info = await run.Client.CreateDatasetAsync(new DatasetRequest(run.Get(path), ParseMeta(run.Get(meta)), run.Get(block)), ct);
                if (run.Json) Output.WriteJson(run.Out, info);
                return CatalogCli.Ok;
            }, path, meta, block));
        return dataset;
    }

    private Command Collection()
    {
        var collection = new Command("collection", "Frozen collections of datasets: ls, info, create.");
        Examples[collection] = "catalog collection info /belle/collection/skim-2026";
        var under = new Argument<string>("under") { Arity = ArgumentArity.ZeroOrOne, DefaultValueFactory = _ => "/belle" };
        collection.Subcommands.Add(Define("ls", "Collections at or below a path.", "catalog collection ls /belle/collection", async (run, ct) =>
        {
            foreach (var c in await run.Client.ListCollectionsAsync(run.Get(under)!, ct))
                if (run.Json) Output.WriteJsonLine(run.Out, c); else run.Out.WriteLine($"{c.Path}  ({c.Members.Count} members)");
            return CatalogCli.Ok;
        }, under));
        var path = new Argument<string>("path");
        collection.Subcommands.Add(Define("info", "A collection's members and metadata, and the totals of its datasets (files, bytes, events, ranges, per SE).", "catalog collection info /belle/collection/skim-2026", async (run, ct) =>
        {
            var c = await run.Client.GetCollectionAsync(run.Get(path)!, ct);
            var s = await run.Client.GetCollectionSummaryAsync(c.Path, ct);
            if (run.Json) { Output.WriteJson(run.Out, new { collection = c, summary = s }); return CatalogCli.Ok; }
            run.Out.WriteLine($"Collection:  {c.Path}   created {c.Created:u}");
            run.Out.WriteLine($"Members:     {string.Join(", ", c.Members)}");
            run.Out.WriteLine($"Datasets:    {Output.Count(s.Datasets)}");
            PrintTotals(run.Out, s.Files, s.Datablocks, s.Bytes, s.Events, s.ExperimentLow, s.ExperimentHigh, s.RunLow, s.RunHigh, s.Metadata, s.PerStorageElement);
            return CatalogCli.Ok;
        }, path));
        var members = new Option<string[]>("--member") { Description = "A dataset or collection (repeatable)", Required = true };
        var meta = new Option<string[]>("--meta") { Description = "Collection metadata key=value (repeatable)" };
        collection.Subcommands.Add(Define("create", "Create a frozen collection, whole or not at all.",
            "catalog collection create /belle/collection/skim-2026 --member /belle/MC/.../mixed/mdst --meta description='B to K nu nu'", async (run, ct) =>
            {
                var c = await run.Client.CreateCollectionAsync(new CollectionRequest(run.Get(path), run.Get(members)!, ParseMeta(run.Get(meta))), ct);
                if (run.Json) Output.WriteJson(run.Out, c);
                return CatalogCli.Ok;
            }, path, members, meta));
        return collection;
    }

    private static int Said(CommandRun run, DatasetInfo d)
    {
        if (run.Json) Output.WriteJson(run.Out, d);
        else run.Out.WriteLine($"{d.Path}: {Lower(d.State)}, {(d.Expires is { } e ? $"expires {Output.Time(e)}" : "no end of life")}");
        return CatalogCli.Ok;
    }

    /// <summary>The totals of a dataset or a collection, the way dataset info shows them.</summary>
    private static void PrintTotals(TextWriter o, long files, int datablocks, long bytes, long? events, long? expLow, long? expHigh,
        long? runLow, long? runHigh, JsonObject? metadata, IReadOnlyList<SeUsage> perSe)
    {
        o.WriteLine($"Files:       {Output.Count(files)} in {datablocks} datablocks, {Output.Bytes(bytes)}");
        o.WriteLine($"Events:      {(events is { } e ? Output.Count(e) : "-")}");
        o.WriteLine($"Experiments: {Range(expLow, expHigh)}   Runs: {Range(runLow, runHigh)}");
        if (metadata is { Count: > 0 }) o.WriteLine($"Metadata:    {metadata.ToJsonString()}");
        foreach (var se in perSe) o.WriteLine($"  {se.Se,-20} {Output.Count(se.Files),10} files  {Output.Bytes(se.Bytes)}");

        static string Range(long? low, long? high) => (low, high) switch
        {
            (null, null) => "-",
            var (l, h) when l == h => l!.Value.ToString(CultureInfo.InvariantCulture),
            var (l, h) => $"{l?.ToString(CultureInfo.InvariantCulture) ?? "?"} - {h?.ToString(CultureInfo.InvariantCulture) ?? "?"}",
        };
    }

    private Command LineageCommand()
    {
        var lfn = new Argument<string>("lfn");
        var down = new Option<bool>("--descendants") { Description = "Files made from this one, instead of the files it was made from" };
        var depth = new Option<int>("--depth") { Description = "How many generations", DefaultValueFactory = _ => 1 };
        return Define("lineage", "Ancestors (or descendants) of a file, from the parents recorded at registration.",
            "catalog lineage /belle/MC/.../udst/sub00/udst_000001.root --depth 3", async (run, ct) =>
            {
                var response = await run.Client.LineageAsync(run.Get(lfn)!, run.Get(down) ? LineageDirection.Descendants : LineageDirection.Ancestors, run.Get(depth), ct);
                if (run.Json) { Output.WriteJson(run.Out, response); return CatalogCli.Ok; }
                foreach (var e in response.Edges.OrderBy(e => e.Depth))
                    run.Out.WriteLine($"{new string(' ', 2 * (e.Depth - 1))}{(run.Get(down) ? e.Child : e.Parent)}");
                return CatalogCli.Ok;
            }, lfn, down, depth);
    }
}
