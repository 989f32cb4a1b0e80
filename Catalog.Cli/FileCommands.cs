using System.CommandLine;
using System.Text.Json;
using Catalog.Contracts;

namespace Catalog.Cli;

internal sealed partial class Commands
{
    private const int LookupChunk = 10_000;
    private const int ReplicaChunk = 10_000;

    private Command Register()
    {
        var lfn = new Argument<string?>("lfn") { Arity = ArgumentArity.ZeroOrOne, Description = "The file to register (or use --file)" };
        var size = new Option<long?>("--size") { Description = "Size in bytes" };
        var adler32 = new Option<string?>("--adler32") { Description = "Adler-32 checksum, 8 hex digits" };
        var guid = new Option<Guid?>("--guid") { Description = "GUID (default: the server assigns one)" };
        var md5 = new Option<string?>("--md5") { Description = "MD5 checksum, 32 hex digits" };
        var se = new Option<string[]>("--se") { Description = "Storage element holding a replica (repeatable)", AllowMultipleArgumentsPerToken = false };
        var pfn = new Option<string?>("--pfn") { Description = "PFN of the replica (default: the SE base URL + LFN)" };
        var meta = new Option<string[]>("--meta") { Description = "Metadata key=value (repeatable); values that parse as JSON are typed" };
        var file = new Option<string?>("--file", "-f") { Description = "JSON array or NDJSON of files ({lfn, size, adler32, guid?, replicas?, metadata?}); '-' reads standard input" };
        var batch = new Option<int>("--batch-size") { Description = "Files per request", DefaultValueFactory = _ => 1000 };
        var parallel = new Option<int>("--parallel") { Description = "Requests in flight", DefaultValueFactory = _ => 4 };
        return Define("register", """
            Register files with their replicas and metadata (like dirac-dms-add-file, without the upload).

            One file from arguments, or many from --file: sent in batches with bounded parallelism,
            each batch with an idempotency key so retries never register twice. Re-registering an
            identical file succeeds as "exists". Failed items are listed on standard error (exit 3).
            """, """
            catalog register /belle/user/alice/f.root --size 1024 --adler32 0a1b2c3d --se KEK-DISK --meta experiment=12
              catalog register --file outputs.ndjson     (lines like {"lfn": "...", "size": 1024, "adler32": "0a1b2c3d", "replicas": [{"se": "KEK-DISK"}]})
            """,
            async (run, ct) =>
            {
                var source = run.Get(file);
                var single = run.Get(lfn);
                if ((source is null) == (single is null)) throw new CliUsageException("give one LFN, or --file with many");
                if (run.Get(batch) is < 1 or > 10_000) throw new CliUsageException("--batch-size must be 1 to 10000");
                if (run.Get(parallel) is < 1 or > 64) throw new CliUsageException("--parallel must be 1 to 64");
                IAsyncEnumerable<NewFile> files;
                long? total = null;
                if (single is not null)
                {
                    if (run.Get(size) is not { } bytes) throw new CliUsageException("--size is required with an LFN");
                    if (run.Get(adler32) is not { } checksum) throw new CliUsageException("--adler32 is required with an LFN");
                    var ses = run.Get(se) ?? [];
                    if (run.Get(pfn) is not null && ses.Length != 1) throw new CliUsageException("--pfn needs exactly one --se");
                    var replicas = ses.Select(s => new NewReplica(s, run.Get(pfn))).ToList();
                    files = One(new NewFile(single, bytes, checksum, run.Get(guid), run.Get(md5), replicas, ParseMeta(run.Get(meta))));
                    total = 1;
                }
                else
                {
                    if (run.Get(size) is not null || run.Get(adler32) is not null || run.Get(se) is { Length: > 0 } || run.Get(meta) is { Length: > 0 })
                        throw new CliUsageException("--size, --adler32, --se and --meta describe one LFN; with --file each line carries its own");
                    files = ReadJsonItems<NewFile>(source!, ct);
                }

                var progress = new ProgressBar(console.Error, console.Interactive && total is null, total, "files",
                    TimeSpan.FromSeconds(double.TryParse(console.Environment("CATALOG_PROGRESS_SECONDS"), out var seconds) ? seconds : 10));
                var failures = new List<RegisterResult>();
                long created = 0, existing = 0, done = 0;
                try
                {
                    await foreach (var r in run.Client.RegisterManyAsync(files, run.Get(batch), run.Get(parallel), ct))
                    {
                        done++;
                        switch (r.Status)
                        {
                            case ItemStatus.Created: created++; break;
                            case ItemStatus.Exists: existing++; break;
                            default: failures.Add(r); break;
                        }
                        progress.Report(done);
                    }
                }
                finally
                {
                    progress.Report(done, final: true);
                    failures.Sort((a, b) => a.Index.CompareTo(b.Index));
                    if (run.Json) Output.WriteJson(run.Out, new { created, existing, failed = failures.Count, failures });
                    else run.Out.WriteLine($"created {Output.Count(created)}, existing {Output.Count(existing)}, failed {Output.Count(failures.Count)}");
                    foreach (var f in failures) console.Error.WriteLine($"catalog: item {f.Index}: {f.Lfn}: {Output.Error(f.Error)}");
                }
                return failures.Count == 0 ? CatalogCli.Ok : CatalogCli.Partial;
            }, lfn, size, adler32, guid, md5, se, pfn, meta, file, batch, parallel);

        static async IAsyncEnumerable<NewFile> One(NewFile f) { await Task.CompletedTask; yield return f; }
    }

    private Command Replicas()
    {
        var lfns = new Argument<string[]>("lfns") { Arity = ArgumentArity.ZeroOrMore, Description = "LFNs; '-' or none with a pipe reads them from standard input, one per line" };
        var all = new Option<bool>("--all", "-a") { Description = "Every replica whatever its state and SE (default: the usable ones, available on a read-enabled SE)" };
        var se = new Option<string?>("--se") { Description = "Only replicas on SEs matching this expression: a name, or site=KEK, tier=1&region!=asia, ... (as rules take)" };
        var state = new Option<string?>("--state") { Description = "Only replicas in this state: available, unavailable, bad or being_copied (implies --all)" };
        var pfnOnly = new Option<bool>("--pfn-only") { Description = "Print only the PFNs, one per line (for xrdcp, gfal-copy)" };
        return Define("replicas", "Show the usable replicas of files (like dirac-dms-lfn-replicas, rucio list-file-replicas); bulk lookups stream.",
            "catalog replicas --se 'tier=1&region!=asia' --pfn-only /belle/MC/release-08-01-00/DB00002100/mixed/sub00/mdst_000001_prod00012345_task10020000001.root",
            async (run, ct) =>
            {
                IReadOnlySet<string>? onSes = null;
                if (run.Get(se) is { } expression)
                {
                    try { onSes = SeExpression.Evaluate(expression, await run.Client.ListStorageElementsAsync(ct), "--se"); }
                    catch (SeExpressionException e) { throw new CliUsageException(e.Message); }
                }
                ReplicaState? only = run.Get(state) is { } s ? ParseState(s) : null;
                bool Wanted(Replica r) => (onSes is null || onSes.Contains(r.Se)) && (only is null || r.State == only);
                var failed = 0;
                var first = true;
                await foreach (var chunk in ValuesOrStdin(run.Get(lfns), console).Chunk(LookupChunk).WithCancellation(ct))
                {
                    var rows = new List<IReadOnlyList<string>>();
                    await foreach (var r in run.Client.LookupAsync(chunk, run.Get(all) || only is not null, ct))
                    {
                        if (r.Error is not null)
                        {
                            failed++;
                            console.Error.WriteLine($"catalog: {r.Lfn}: {Output.Error(r.Error)}");
                        }
                        var replicas = (r.Replicas ?? []).Where(Wanted).ToList();
                        if (run.Json) { Output.WriteJsonLine(run.Out, r with { Replicas = r.Replicas is null ? null : replicas }); continue; }
                        if (run.Get(pfnOnly)) { foreach (var rep in replicas) run.Out.WriteLine(rep.Pfn); continue; }
                        if (r.Error is null && replicas.Count == 0) rows.Add([r.Lfn ?? "", "-", r.Replicas is { Count: > 0 } ? "none matching" : "no replicas", ""]);
                        foreach (var rep in replicas) rows.Add([r.Lfn ?? "", rep.Se, Lower(rep.State), rep.Pfn]);
                    }
                    if (!run.Json && !run.Get(pfnOnly)) Output.WriteTable(run.Out, ["lfn", "se", "state", "pfn"], rows, header: first);
                    first = false;
                }
                return failed == 0 ? CatalogCli.Ok : CatalogCli.Partial;
            }, lfns, all, se, state, pfnOnly);
    }

    private Command Correct()
    {
        var lfn = new Argument<string>("lfn");
        var reason = new Option<string>("--reason") { Description = "Why (audited with the old and new values)", Required = true };
        var status = new Option<string?>("--status") { Description = "online or lost" };
        var size = new Option<long?>("--size") { Description = "The right size in bytes" };
        var adler = new Option<string?>("--adler32") { Description = "The right Adler-32 (8 hex digits)" };
        var md5 = new Option<string?>("--md5") { Description = "The right MD5 (32 hex digits)" };
        return Define("correct", "Set a file's status or correct its size or checksum, with a reason (data managers; like dirac-dms-set-file-status).",
            "catalog correct /belle/Raw/e0026/r00001/sub00/raw.bin --status lost --reason 'disk server lost, GGUS 123456'", async (run, ct) =>
            {
                FileStatus? st = run.Get(status) switch
                {
                    null => null, "online" => FileStatus.Online, "lost" => FileStatus.Lost,
                    var s => throw new CliUsageException($"--status: '{s}' is not online or lost"),
                };
                var answer = await run.Client.CorrectFilesAsync([new FileCorrection(run.Get(lfn), run.Get(reason), st, run.Get(size), run.Get(adler), run.Get(md5))], ct);
                var r = answer.Results[0];
                if (run.Json) Output.WriteJson(run.Out, answer);
                else if (r.Ok) run.Out.WriteLine(r.Changed is { Count: > 0 } c ? $"{r.Lfn}: corrected {string.Join(", ", c)}" : $"{r.Lfn}: nothing to change");
                if (r.Error is { } e) { console.Error.WriteLine($"catalog: {Output.Error(e)}"); return CatalogCli.Failed; }
                return CatalogCli.Ok;
            }, lfn, reason, status, size, adler, md5);
    }

    private Command AddReplica() => ReplicaCommand("add-replica", "Add a replica of a registered file on a storage element.",
        "catalog add-replica /belle/user/alice/f.root DESY-DISK", withPfn: true, withState: false,
        (run, refs, ct) => run.Client.AddReplicasAsync(refs, ct));

    private Command RmReplica() => ReplicaCommand("rm-replica", "Remove a replica; the file stays registered, even without replicas.",
        "catalog rm-replica /belle/user/alice/f.root DESY-DISK", withPfn: false, withState: false,
        (run, refs, ct) => run.Client.RemoveReplicasAsync(refs, ct));

    private Command ReplicaState() => ReplicaCommand("replica-state", "Set a replica's state: available, unavailable, bad or being_copied.",
        "catalog replica-state /belle/user/alice/f.root DESY-DISK bad", withPfn: false, withState: true,
        (run, refs, ct) => run.Client.SetReplicaStateAsync(refs, ct));

    /// <summary>The three replica writes: one replica from arguments or many from --file, answered per item.</summary>
    private Command ReplicaCommand(string name, string description, string example, bool withPfn, bool withState,
        Func<CommandRun, IReadOnlyList<ReplicaRef>, CancellationToken, Task<ReplicaResponse>> call)
    {
        var lfn = new Argument<string?>("lfn") { Arity = ArgumentArity.ZeroOrOne };
        var se = new Argument<string?>("se") { Arity = ArgumentArity.ZeroOrOne };
        var state = new Argument<string?>("state") { Arity = ArgumentArity.ZeroOrOne, Description = "available, unavailable, bad or being_copied" };
        var pfn = new Option<string?>("--pfn") { Description = "PFN (default: the SE base URL + LFN)" };
        var file = new Option<string?>("--file", "-f") { Description = "JSON array or NDJSON of {lfn, se, pfn?, state?}; '-' reads standard input" };
        List<Symbol> symbols = [lfn, se, file];
        if (withState) symbols.Add(state);
        if (withPfn) symbols.Add(pfn);
        var noun = name switch { "add-replica" => "added", "rm-replica" => "removed", _ => "updated" };
        return Define(name, description + "\n\nMany at once with --file; results are per item (failed ones on standard error, exit 3).", example, async (run, ct) =>
        {
            IAsyncEnumerable<ReplicaRef> refs;
            if (run.Get(file) is { } source)
            {
                if (run.Get(lfn) is not null) throw new CliUsageException("give an LFN and SE, or --file, not both");
                refs = ReadJsonItems<ReplicaRef>(source, ct);
            }
            else
            {
                if (run.Get(lfn) is not { } l || run.Get(se) is not { } s) throw new CliUsageException("give an LFN and an SE (or --file)");
                ReplicaState? st = withState ? ParseState(run.Get(state) ?? throw new CliUsageException("give the new state")) : null;
                refs = new[] { new ReplicaRef(l, s, withPfn ? run.Get(pfn) : null, st) }.ToAsyncEnumerable();
            }
            var results = new List<ReplicaResult>();
            var offset = 0;
            await foreach (var chunk in refs.Chunk(ReplicaChunk).WithCancellation(ct))
            {
                var response = await call(run, chunk, ct);
                results.AddRange(response.Results.Select(r => r with { Index = offset + r.Index }));
                offset += chunk.Length;
            }
            var failures = results.Where(r => r.Outcome == ReplicaOutcome.Failed).ToList();
            if (run.Json) Output.WriteJson(run.Out, new ReplicaResponse(results));
            else run.Out.WriteLine(string.Join(", ", results.GroupBy(r => r.Outcome).OrderBy(g => g.Key).Select(g => $"{Lower(g.Key)} {Output.Count(g.Count())}"))
                is { Length: > 0 } summary ? summary : $"{noun} 0");
            foreach (var f in failures) console.Error.WriteLine($"catalog: item {f.Index}: {f.Lfn} on {f.Se}: {Output.Error(f.Error)}");
            return failures.Count == 0 ? CatalogCli.Ok : CatalogCli.Partial;
        }, symbols.ToArray());
    }

    private static ReplicaState ParseState(string text) =>
        Enum.TryParse<ReplicaState>(text.Replace("_", "").Replace("-", ""), ignoreCase: true, out var state) && !int.TryParse(text, out _)
            ? state
            : throw new CliUsageException($"state: '{text}' is not one of available, unavailable, bad, being_copied");

    /// <summary>
    /// Items from a JSON array (read whole) or NDJSON (streamed, one per line, blank lines and
    /// '#' comments skipped); "-" is standard input. A malformed line stops the run with its number.
    /// </summary>
    private async IAsyncEnumerable<T> ReadJsonItems<T>(string source, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        Stream stream;
        try
        {
            stream = source == "-" ? console.In : File.OpenRead(source);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            throw new CliUsageException($"--file: {e.Message}");
        }
        var name = source == "-" ? "standard input" : source;
        using var reader = new StreamReader(stream, leaveOpen: source == "-");
        while (reader.Peek() is var c && c >= 0 && char.IsWhiteSpace((char)c)) reader.Read();
        if (reader.Peek() == '[')
        {
            List<T?>? all;
            try { all = JsonSerializer.Deserialize<List<T?>>(await reader.ReadToEndAsync(ct), CatalogJson.Options); }
            catch (JsonException e) { throw new IOException($"{name}: not a valid JSON array: {e.Message}"); }
            foreach (var item in all ?? []) if (item is not null) yield return item;
            yield break;
        }
        var number = 0;
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            number++;
            if (line.Trim() is not { Length: > 0 } text || text.StartsWith('#')) continue;
            T? item;
            try { item = JsonSerializer.Deserialize<T>(text, CatalogJson.Options); }
            catch (JsonException e) { throw new IOException($"{name} line {number}: {e.Message}"); }
            if (item is null) throw new IOException($"{name} line {number}: null is not an item");
            yield return item;
        }
    }
}
