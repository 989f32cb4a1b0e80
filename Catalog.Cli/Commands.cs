using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Catalog.Contracts;

namespace Catalog.Cli;

/// <summary>The commands; each reads its arguments, makes client calls and prints a table or JSON.</summary>
internal sealed partial class Commands(CliConsole console, GlobalOptions globals)
{
    public IEnumerable<Command> All() =>
        [Ls(), Stat(), Mkdir(), Mv(), Rm(), Du(), Chmod(), Chown(), Register(), Replicas(), AddReplica(), RmReplica(), ReplicaState(), Correct(), Se(),
         Meta(), Attr(), Query(), Facets(), Dataset(), Collection(), LineageCommand(), WhoAmI(), Token(), AuditLog(), ProductionCommand(), RuleCommand(), TransferCommand(), ConsistencyCommand(), MonitorCommand(), DowntimeCommand(), Find(), Completion()];

    /// <summary>The example each command's --help ends with.</summary>
    public Dictionary<Command, string> Examples { get; } = [];

    private Command Define(string name, string description, string example, Func<CommandRun, CancellationToken, Task<int>> body,
        params Symbol[] symbols)
    {
        var command = new Command(name, description);
        Examples[command] = example;
        foreach (var symbol in symbols)
        {
            if (symbol is Option o) command.Options.Add(o);
            else if (symbol is Argument a) command.Arguments.Add(a);
        }
        command.SetAction((parse, ct) => CatalogCli.GuardAsync(new CommandRun(parse, console, globals), body, ct));
        return command;
    }

    // ---- namespace ----

    private Command Ls()
    {
        var path = new Argument<string>("path") { Description = "Directory or file to list; * ? [..] in the last component match names (quote them from the shell)" };
        var longFormat = new Option<bool>("--long", "-l") { Description = "Mode, replicas, owner, group, size, modification time" };
        var recursive = new Option<bool>("--recursive", "-R") { Description = "List subdirectories too, each under its path" };
        var directory = new Option<bool>("--directory", "-d") { Description = "Show a directory itself, not its entries" };
        var limit = new Option<int?>("--limit", "-n") { Description = "Print at most this many entries" };
        var after = new Option<string?>("--after") { Description = "Continue where a run with --limit stopped (the cursor it printed)" };
        var pageSize = new Option<int>("--page-size") { Description = "Entries fetched per request", DefaultValueFactory = _ => 1000 };
        return Define("ls", "List a directory, page by page, directories and files merged by name (like lfc-ls).",
            "catalog ls -l /belle/MC/release-08-01-00/DB00002100/mixed/sub0*", async (run, ct) =>
            {
                var target = run.Get(path)!;
                var max = run.Get(limit);
                if (max is < 1) throw new CliUsageException("--limit must be at least 1");
                var size = run.Get(pageSize);
                if (size is < 1 or > 10_000) throw new CliUsageException("--page-size must be 1 to 10000");
                var listing = new Listing(run, size, run.Get(longFormat), run.Get(recursive));
                var glob = Glob.Of(target);
                if ((glob is not null || listing.Recursive) && (max is not null || run.Get(after) is not null))
                    throw new CliUsageException("--limit and --after page one directory; not with -R or a pattern");

                if (glob is not null)
                {
                    // The parent's entries whose names match, then (without -d) the matching directories' entries.
                    var matches = new List<Entry>();
                    await foreach (var e in run.Client.ListAsync(glob.Parent, size, ct))
                        if (glob.Matches(e.Name)) matches.Add(e);
                    if (matches.Count == 0)
                    {
                        console.Error.WriteLine($"catalog: nothing in {glob.Parent} matches '{glob.Pattern}'");
                        return CatalogCli.Failed;
                    }
                    var files = run.Get(directory) ? matches : matches.Where(e => e.Type == EntryType.File).ToList();
                    await listing.PrintAsync(files, ct);
                    if (!run.Get(directory))
                        foreach (var d in matches.Where(e => e.Type == EntryType.Directory))
                            await listing.DirectoryAsync(d.Path, heading: true, ct);
                    return CatalogCli.Ok;
                }

                var entry = await run.Client.StatAsync(target, ct);
                if (entry.Type == EntryType.File || run.Get(directory))
                {
                    await listing.PrintAsync([entry], ct);
                    return CatalogCli.Ok;
                }
                if (listing.Recursive)
                {
                    await listing.DirectoryAsync(entry.Path, heading: true, ct);
                    return CatalogCli.Ok;
                }
                // Pages end exactly at --limit, so the server's cursor is where the next run continues.
                var cursor = run.Get(after);
                long printed = 0;
                do
                {
                    var want = max is null ? size : (int)Math.Min(size, max.Value - printed);
                    var page = await run.Client.ListPageAsync(target, cursor, want, ct);
                    await listing.PrintAsync(page.Entries, ct);
                    printed += page.Entries.Count;
                    cursor = page.Next;
                } while (cursor is not null && (max is null || printed < max));
                // A full last page has a cursor even when nothing follows; one more entry tells.
                if (cursor is not null && (await run.Client.ListPageAsync(target, cursor, 1, ct)).Entries.Count > 0)
                    console.Error.WriteLine($"catalog: stopped at --limit {max}; continue with --after '{cursor}'");
                return CatalogCli.Ok;
            }, path, longFormat, recursive, directory, limit, after, pageSize);
    }

    private Command Find()
    {
        var path = new Argument<string>("path") { Description = "Where to start (a directory)" };
        var name = new Option<string?>("--name") { Description = "Names matching this pattern: * ? [..] (quote it from the shell)" };
        var owner = new Option<string?>("--owner") { Description = "Entries of this owner" };
        var type = new Option<string?>("--type") { Description = "f for files, d for directories" };
        return Define("find", "Every file (and directory) below a path by name pattern, owner and type, one LFN per line (like dirac-dms-user-lfns).",
            "catalog find /belle/user/alice --name '*.root' --type f", async (run, ct) =>
            {
                var start = run.Get(path)!;
                var named = run.Get(name);
                if (named?.Contains('/') == true) throw new CliUsageException("--name matches names, not paths: no '/'");
                var pattern = named is null ? null : Glob.Of("/" + named); // null for a plain name: then equal
                EntryType? only = run.Get(type) switch
                {
                    null => null, "f" => EntryType.File, "d" => EntryType.Directory,
                    var t => throw new CliUsageException($"--type: '{t}' is not f or d"),
                };
                var who = run.Get(owner);
                bool Wanted(Entry e) => (only is null || e.Type == only) && (who is null || e.Owner == who)
                    && (named is null || (pattern?.Matches(e.Name) ?? e.Name == named));
                var root = await run.Client.StatAsync(start, ct);
                if (root.Type == EntryType.File)
                {
                    if (Wanted(root)) Print(root);
                    return CatalogCli.Ok;
                }
                var pending = new Stack<string>([root.Path]);
                while (pending.TryPop(out var dir))
                {
                    var below = new List<string>();
                    await foreach (var e in run.Client.ListAsync(dir, 1000, ct))
                    {
                        if (Wanted(e)) Print(e);
                        if (e.Type == EntryType.Directory) below.Add(e.Path);
                    }
                    for (var i = below.Count - 1; i >= 0; i--) pending.Push(below[i]); // depth first, in name order
                }
                return CatalogCli.Ok;

                void Print(Entry e)
                {
                    if (run.Json) Output.WriteJsonLine(run.Out, e);
                    else run.Out.WriteLine(e.Path);
                }
            }, path, name, owner, type);
    }

    private Command Completion()
    {
        var shell = new Argument<string>("shell") { Description = "bash (zsh: run 'autoload -U +X bashcompinit && bashcompinit' first)" };
        return Define("completion", "Print a shell completion script: source <(catalog completion bash), or add that line to ~/.bashrc.",
            "catalog completion bash >> ~/.bashrc", (run, ct) =>
            {
                if (run.Get(shell) != "bash") throw new CliUsageException($"completion: '{run.Get(shell)}' is not supported; bash is (and zsh through bashcompinit)");
                // Completions come from the command itself ([suggest:N] is System.CommandLine's directive),
                // so they always match the installed version: commands, subcommands and options.
                run.Out.Write("""
                    _catalog_complete() {
                      local IFS=$'\n'
                      COMPREPLY=( $(compgen -W "$("${COMP_WORDS[0]}" "[suggest:${COMP_POINT}]" "${COMP_LINE}" 2>/dev/null)" -- "${COMP_WORDS[COMP_CWORD]}") )
                    }
                    complete -o default -F _catalog_complete catalog ./catalog

                    """);
                return Task.FromResult(CatalogCli.Ok);
            }, shell);
    }

    /// <summary>
    /// How ls prints: names, or with -l aligned columns per page (mode, replicas of each file from one
    /// bulk lookup per page, owner, group, size with thousands separators, time, name); with -R every
    /// directory below, each under a "path:" heading, as ls -R does.
    /// </summary>
    private sealed class Listing(CommandRun run, int pageSize, bool longFormat, bool recursive)
    {
        public bool Recursive => recursive;
        private bool _first = true;

        public async Task DirectoryAsync(string path, bool heading, CancellationToken ct)
        {
            if (!run.Json && heading)
            {
                if (!_first) run.Out.WriteLine();
                run.Out.WriteLine($"{path}:");
            }
            _first = false;
            var below = new List<string>();
            string? cursor = null;
            do
            {
                var page = await run.Client.ListPageAsync(path, cursor, pageSize, ct);
                await PrintAsync(page.Entries, ct);
                if (recursive) below.AddRange(page.Entries.Where(e => e.Type == EntryType.Directory).Select(e => e.Path));
                cursor = page.Next;
            } while (cursor is not null);
            foreach (var sub in below) await DirectoryAsync(sub, heading: true, ct);
        }

        public async Task PrintAsync(IReadOnlyList<Entry> entries, CancellationToken ct)
        {
            _first = false;
            if (run.Json) { foreach (var e in entries) Output.WriteJsonLine(run.Out, e); return; }
            if (!longFormat) { foreach (var e in entries) run.Out.WriteLine(e.Name + (e.Type == EntryType.Directory ? "/" : "")); return; }
            var replicas = new Dictionary<string, int>(StringComparer.Ordinal);
            var files = entries.Where(e => e.Type == EntryType.File).Select(e => e.Path).ToList();
            if (files.Count > 0)
                await foreach (var r in run.Client.LookupAsync(files, all: true, ct))
                    if (r.Lfn is not null && r.Replicas is not null) replicas[r.Lfn] = r.Replicas.Count;
            var rows = entries.Select(e => (IReadOnlyList<string>)[Output.Mode(e.Type, e.Mode),
                e.Type == EntryType.File ? (replicas.TryGetValue(e.Path, out var n) ? n.ToString(CultureInfo.InvariantCulture) : "?") : "-",
                e.Owner, e.Group, Output.Count(e.Size ?? 0), Output.Time(e.Modified), e.Name + (e.Type == EntryType.Directory ? "/" : "")]).ToList();
            Output.WriteTable(run.Out, ["mode", "replicas", "owner", "group", "size", "modified", "name"], rows, header: false, 1, 4);
        }
    }

    /// <summary>A name pattern in the last component of a path (* any run, ? one character, [abc] or [a-z] one of).</summary>
    private sealed class Glob
    {
        public required string Parent { get; init; }
        public required string Pattern { get; init; }
        private System.Text.RegularExpressions.Regex _regex = null!;

        public static Glob? Of(string path)
        {
            var slash = path.LastIndexOf('/');
            var name = path[(slash + 1)..];
            if (slash > 0 && path[..slash].IndexOfAny(['*', '?']) >= 0)
                throw new CliUsageException($"'{path}': only the last component may hold * ? or [..]");
            if (slash < 0 || name.IndexOfAny(['*', '?', '[']) < 0) return null;
            var regex = new System.Text.StringBuilder("^");
            for (var i = 0; i < name.Length; i++)
            {
                var c = name[i];
                if (c == '*') regex.Append(".*");
                else if (c == '?') regex.Append('.');
                else if (c == '[' && name.IndexOf(']', i + 1) is var close and > 0)
                {
                    var set = name[(i + 1)..close];
                    regex.Append('[').Append(set.StartsWith('!') ? "^" + Escape(set[1..]) : Escape(set)).Append(']');
                    i = close;
                }
                else regex.Append(System.Text.RegularExpressions.Regex.Escape(c.ToString()));
            }
            return new Glob
            {
                Parent = slash == 0 ? "/" : path[..slash], Pattern = name,
                _regex = new System.Text.RegularExpressions.Regex(regex.Append('$').ToString(), System.Text.RegularExpressions.RegexOptions.CultureInvariant),
            };

            static string Escape(string set) => set.Replace("\\", "\\\\").Replace("^", "\\^").Replace("[", "\\[");
        }

        public bool Matches(string name) => _regex.IsMatch(name);
    }

    private Command Stat()
    {
        var paths = new Argument<string[]>("paths") { Arity = ArgumentArity.OneOrMore, Description = "Files or directories" };
        return Define("stat", "Show a file (GUID, size, checksums, replicas, metadata) or a directory.",
            "catalog stat /belle/MC/release-08-01-00/DB00002100/mixed/sub00/mdst_000001_prod00012345_task10020000001.root",
            async (run, ct) =>
            {
                var failed = 0;
                foreach (var p in run.Get(paths)!)
                {
                    try
                    {
                        var entry = await run.Client.StatAsync(p, ct);
                        object shown = entry.Type == EntryType.File ? await run.Client.GetFileAsync(entry.Path, ct) : entry;
                        if (run.Json) Output.WriteJson(run.Out, shown);
                        else if (shown is Contracts.FileInfo f) PrintFile(run.Out, f);
                        else PrintDirectory(run.Out, entry);
                    }
                    catch (Client.CatalogNotFoundException e) when (run.Get(paths)!.Length > 1)
                    {
                        console.Error.WriteLine($"catalog: {p}: {e.Message}");
                        failed++;
                    }
                }
                return failed == 0 ? CatalogCli.Ok : CatalogCli.Partial;
            }, paths);

        static void PrintFile(TextWriter o, Contracts.FileInfo f)
        {
            o.WriteLine($"LFN:       {f.Lfn}");
            o.WriteLine($"GUID:      {f.Guid}");
            o.WriteLine($"Size:      {f.Size} ({Output.Bytes(f.Size)})");
            o.WriteLine($"Adler32:   {f.Adler32}");
            if (f.Md5 is not null) o.WriteLine($"MD5:       {f.Md5}");
            o.WriteLine($"Status:    {Lower(f.Status)}");
            o.WriteLine($"Mode:      {Output.Mode(EntryType.File, f.Mode)} ({Output.Octal(f.Mode)}) {f.Owner}:{f.Group}");
            o.WriteLine($"Created:   {f.Created:u}");
            o.WriteLine($"Modified:  {f.Modified:u}");
            if (f.Metadata is { Count: > 0 }) o.WriteLine($"Metadata:  {f.Metadata.ToJsonString()}");
            o.WriteLine($"Replicas:  {f.Replicas.Count}");
            foreach (var r in f.Replicas) o.WriteLine($"  {r.Se,-20} {Lower(r.State),-12} {r.Pfn}");
        }

        static void PrintDirectory(TextWriter o, Entry d)
        {
            o.WriteLine($"Directory: {d.Path}");
            o.WriteLine($"Mode:      {Output.Mode(d.Type, d.Mode)} ({Output.Octal(d.Mode)}) {d.Owner}:{d.Group}");
            o.WriteLine($"Created:   {d.Created:u}");
            o.WriteLine($"Modified:  {d.Modified:u}");
        }
    }

    private Command Mkdir()
    {
        var paths = new Argument<string[]>("paths") { Arity = ArgumentArity.OneOrMore, Description = "Directories to create" };
        var parents = new Option<bool>("--parents", "-p") { Description = "Create missing parents too; existing directories are fine" };
        var mode = new Option<string?>("--mode", "-m") { Description = "Octal mode, e.g. 775" };
        return Define("mkdir", "Create directories (like lfc-mkdir).", "catalog mkdir -p /belle/user/alice/skim", async (run, ct) =>
        {
            int? m = run.Get(mode) is { } text ? ParseMode(text, "--mode") : null;
            var made = new List<Entry>();
            foreach (var p in run.Get(paths)!) made.Add(await run.Client.MakeDirectoryAsync(p, run.Get(parents), m, ct));
            if (run.Json) Output.WriteJson(run.Out, made);
            else foreach (var e in made) run.Out.WriteLine(Output.Changed(e));
            return CatalogCli.Ok;
        }, paths, parents, mode);
    }

    private Command Mv()
    {
        var from = new Argument<string>("from");
        var to = new Argument<string>("to");
        return Define("mv", "Rename or move a file or a directory with everything under it.",
            "catalog mv /belle/user/alice/old /belle/user/alice/new", async (run, ct) =>
            {
                var entry = await run.Client.MoveAsync(run.Get(from)!, run.Get(to)!, ct);
                if (run.Json) Output.WriteJson(run.Out, entry);
                return CatalogCli.Ok;
            }, from, to);
    }

    private Command Rm()
    {
        var paths = new Argument<string[]>("paths") { Arity = ArgumentArity.OneOrMore };
        var recursive = new Option<bool>("--recursive", "-r") { Description = "Remove directories with everything under them" };
        var force = new Option<bool>("--force", "-f") { Description = "Paths that do not exist are not an error" };
        return Define("rm", "Remove files and directories, per item.", "catalog rm -r /belle/user/alice/tmp", async (run, ct) =>
        {
            var response = await run.Client.RemoveAsync(run.Get(paths)!, run.Get(recursive), ct);
            var failures = response.Results.Where(r => r.Status == RemoveStatus.Failed || (r.Status == RemoveStatus.Absent && !run.Get(force))).ToList();
            if (run.Json) Output.WriteJson(run.Out, response);
            else
            {
                foreach (var r in response.Results.Where(r => r.Status == RemoveStatus.Removed && (r.FilesRemoved + r.DirectoriesRemoved) > 1))
                    run.Out.WriteLine($"removed {r.Path}: {Output.Count(r.FilesRemoved)} files, {Output.Count(r.DirectoriesRemoved)} directories");
            }
            foreach (var r in failures)
                console.Error.WriteLine($"catalog: {r.Path}: {(r.Error is null ? "no such file or directory" : Output.Error(r.Error))}");
            return failures.Count == 0 ? CatalogCli.Ok : CatalogCli.Partial;
        }, paths, recursive, force);
    }

    private Command Du()
    {
        var paths = new Argument<string[]>("paths") { Arity = ArgumentArity.OneOrMore };
        return Define("du", "Files and bytes under a directory, in total and per storage element.", "catalog du /belle/MC", async (run, ct) =>
        {
            var usages = new List<Usage>();
            foreach (var p in run.Get(paths)!) usages.Add(await run.Client.UsageAsync(p, ct));
            if (run.Json) { if (usages.Count == 1) Output.WriteJson(run.Out, usages[0]); else Output.WriteJson(run.Out, usages); return CatalogCli.Ok; }
            foreach (var u in usages)
            {
                Output.WriteTable(run.Out, ["where", "files", "bytes", "size"],
                    u.PerStorageElement.Select(s => (IReadOnlyList<string>)[s.Se, Output.Count(s.Files), s.Bytes.ToString(CultureInfo.InvariantCulture), Output.Bytes(s.Bytes)])
                        .Prepend([u.Path, Output.Count(u.Files), u.Bytes.ToString(CultureInfo.InvariantCulture), Output.Bytes(u.Bytes)]),
                    1, 2, 3);
                run.Out.WriteLine($"{Output.Count(u.Directories)} directories");
            }
            return CatalogCli.Ok;
        }, paths);
    }

    // ---- storage elements ----

    private Command Se()
    {
        var se = new Command("se", "Storage elements: list (by expression), register, rename.");
        Examples[se] = "catalog se ls 'tier=1&region!=asia'";
        var expression = new Argument<string?>("expression") { Arity = ArgumentArity.ZeroOrOne, Description = "Only the SEs it selects: a name, site=KEK, tier=1&region!=asia, ... (as rules take)" };
        se.Subcommands.Add(Define("ls", "List storage elements with their usage and attributes.", "catalog se ls 'tier=1&region!=asia'", async (run, ct) =>
        {
            var all = run.Get(expression) is { } e ? await run.Client.ListStorageElementsAsync(e, ct) : await run.Client.ListStorageElementsAsync(ct);
            if (run.Json) { Output.WriteJson(run.Out, all); return CatalogCli.Ok; }
            Output.WriteTable(run.Out, ["name", "site", "state", "read", "write", "files", "size", "base url", "attributes"],
                all.Select(s => (IReadOnlyList<string>)[s.Name, s.Site, Lower(s.State), s.ReadEnabled ? "yes" : "no", s.WriteEnabled ? "yes" : "no",
                    Output.Count(s.Files), Output.Bytes(s.Bytes), s.BaseUrl,
                    string.Join(" ", (s.Attributes ?? new Dictionary<string, string>()).OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => $"{a.Key}={a.Value}"))]), 5, 6);
            return CatalogCli.Ok;
        }, expression));
        var from = new Argument<string>("name") { Description = "The SE's name now" };
        var to = new Argument<string>("new-name") { Description = "Its new name" };
        se.Subcommands.Add(Define("rename", "Rename a storage element; every replica stays on it (data managers).", "catalog se rename KEK-DISK KEK-DISK-OLD", async (run, ct) =>
        {
            var renamed = await run.Client.RenameStorageElementAsync(run.Get(from)!, run.Get(to)!, ct);
            if (run.Json) Output.WriteJson(run.Out, renamed);
            else run.Out.WriteLine($"storage element {run.Get(from)} is now {renamed.Name}, with its {Output.Count(renamed.Files)} replicas");
            return CatalogCli.Ok;
        }, from, to));

        var name = new Argument<string>("name") { Description = "SE name, e.g. KEK-DISK" };
        var url = new Option<string>("--base-url") { Description = "Base URL; a replica's default PFN is this + LFN", Required = true };
        var site = new Option<string>("--site") { Description = "Site name, e.g. KEK", Required = true };
        var protocol = new Option<string?>("--protocol") { Description = "Protocol (default: the base URL's scheme)" };
        var state = new Option<StorageElementState>("--state") { Description = "online, degraded or offline", DefaultValueFactory = _ => StorageElementState.Online };
        var readOnly = new Option<bool>("--read-only") { Description = "Refuse new replicas" };
        var attrs = new Option<string[]>("--attr") { Description = "A free-form attribute key=value, e.g. tier=1 or region=asia (repeatable)" };
        se.Subcommands.Add(Define("add", "Register a storage element, or replace its settings.",
            "catalog se add KEK-DISK --site KEK --base-url root://kek-se.example:1094//belle", async (run, ct) =>
            {
                var baseUrl = run.Get(url)!;
                if (!Uri.TryCreate(baseUrl, UriKind.Absolute, out var uri)) throw new CliUsageException($"--base-url: '{baseUrl}' is not an absolute URL");
                var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var kv in run.Get(attrs) ?? [])
                    attributes[kv.Split('=', 2) is [var k, var v] ? k : throw new CliUsageException($"--attr: '{kv}' is not key=value")] = v;
                var spec = new StorageElementSpec(run.Get(site), run.Get(protocol) ?? uri.Scheme, baseUrl,
                    ReadEnabled: true, WriteEnabled: !run.Get(readOnly), State: run.Get(state), Attributes: attributes.Count == 0 ? null : attributes);
                var stored = await run.Client.PutStorageElementAsync(run.Get(name)!, spec, ct);
                if (run.Json) Output.WriteJson(run.Out, stored);
                else run.Out.WriteLine($"storage element {stored.Name}: site {stored.Site}, {stored.BaseUrl}, {CatalogJson.Name(stored.State)}, " +
                                       $"{(stored.ReadEnabled ? "reads" : "no reads")}, {(stored.WriteEnabled ? "writes" : "no writes")}");
                return CatalogCli.Ok;
            }, name, url, site, protocol, state, readOnly, attrs));
        return se;
    }

    /// <summary>An octal permission mode such as 755.</summary>
    internal static int ParseMode(string text, string what)
    {
        try { return Convert.ToInt32(text, 8); }
        catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
        {
            throw new CliUsageException($"{what}: '{text}' is not an octal mode");
        }
    }

    internal static string Lower<T>(T value) where T : struct, Enum => CatalogJson.Name(value);

    /// <summary>Reads "-" or piped standard input as lines; otherwise the given values.</summary>
    private static async IAsyncEnumerable<string> ValuesOrStdin(string[]? values, CliConsole console)
    {
        if (values is { Length: > 0 } && !(values.Length == 1 && values[0] == "-"))
        {
            foreach (var v in values) yield return v;
            yield break;
        }
        if (values is null or { Length: 0 } && !console.InputRedirected)
            throw new CliUsageException("give at least one LFN, or '-' to read them from standard input");
        using var reader = new StreamReader(console.In, leaveOpen: true);
        while (await reader.ReadLineAsync() is { } line)
            if (line.Trim() is { Length: > 0 } trimmed && !trimmed.StartsWith('#')) yield return trimmed;
    }

    /// <summary>Parses "key=value" metadata; the value is JSON when it parses (7, true, [1,2]), a string otherwise.</summary>
    internal static JsonObject? ParseMeta(string[]? pairs)
    {
        if (pairs is null or { Length: 0 }) return null;
        var meta = new JsonObject();
        foreach (var pair in pairs)
        {
            var eq = pair.IndexOf('=');
            if (eq <= 0) throw new CliUsageException($"--meta: '{pair}' is not key=value");
            JsonNode? value;
            try { value = JsonNode.Parse(pair[(eq + 1)..]); }
            catch (JsonException) { value = JsonValue.Create(pair[(eq + 1)..]); }
            meta[pair[..eq]] = value;
        }
        return meta;
    }
}
