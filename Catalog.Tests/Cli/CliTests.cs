using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Catalog.Cli;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Cli;

/// <summary>
/// The <c>catalog</c> command end to end: each run parses real arguments and talks to the
/// in-process server (real PostgreSQL and Redis) through Catalog.Client; only the socket is
/// replaced by the test server's transport.
/// </summary>
[Collection(CatalogCollection.Name)]
public class CliTests(CatalogFixture fx)
{
    public sealed record Result(int Exit, string Out, string Err);

    private readonly string _home = Directory.CreateTempSubdirectory("catalog-cli-home").FullName;

    private Task<Result> Run(params string[] args) => RunWith(fx.Factory.Server.CreateHandler(), null, args);

    private Task<Result> RunStdin(string stdin, params string[] args) => RunWith(fx.Factory.Server.CreateHandler(), stdin, args);

    private async Task<Result> RunWith(HttpMessageHandler? transport, string? stdin, string[] args, Dictionary<string, string>? env = null)
    {
        env ??= new() { ["CATALOG_URL"] = "http://localhost", ["CATALOG_TOKEN"] = fx.AdminToken };
        env.TryAdd("HOME", _home);
        var output = new StringWriter();
        var error = new StringWriter();
        var console = new CliConsole
        {
            Out = output,
            Error = error,
            In = new MemoryStream(Encoding.UTF8.GetBytes(stdin ?? "")),
            InputRedirected = stdin is not null,
            Interactive = false,
            Environment = name => env.GetValueOrDefault(name),
            Transport = transport,
        };
        var exit = await CatalogCli.RunAsync(args, console);
        return new Result(exit, output.ToString(), error.ToString());
    }

    /// <summary>
    /// <c>register --file -</c> of <paramref name="files"/> files into <paramref name="dir"/>, with
    /// standard error a terminal or not; the exit code and both streams.
    /// </summary>
    private async Task<Result> RegisterFromInputAsync(string dir, int files, int batch, bool terminal, string? progressSeconds = null)
    {
        var se = await fx.NewStorageElementAsync();
        var lines = string.Join('\n', Enumerable.Range(0, files).Select(i =>
            $"{{\"lfn\":\"{dir}/f{i}.root\",\"size\":1,\"adler32\":\"0000000{i % 10}\",\"replicas\":[{{\"se\":\"{se}\"}}]}}"));
        var (output, error) = (new StringWriter(), new StringWriter());
        var console = new CliConsole
        {
            Out = output, Error = error, In = new MemoryStream(Encoding.UTF8.GetBytes(lines)), InputRedirected = true,
            Interactive = terminal,
            Environment = name => name switch
            {
                "CATALOG_URL" => "http://localhost", "CATALOG_TOKEN" => fx.AdminToken, "HOME" => _home, "CATALOG_PROGRESS_SECONDS" => progressSeconds, _ => null,
            },
            Transport = fx.Factory.Server.CreateHandler(),
        };
        var exit = await CatalogCli.RunAsync(["register", "--file", "-", "--batch-size", batch.ToString()], console);
        return new Result(exit, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Registering_from_a_terminal_draws_progress_and_stores_every_file()
    {
        var dir = Dir();
        var (exit, _, error) = await RegisterFromInputAsync(dir, 2500, 1000, terminal: true); // standard error is a terminal: the progress bar draws
        Assert.True(exit == 0, error);
        Assert.Contains("2,500 files", error);
        Assert.Equal(2500, (await fx.Client.UsageAsync(dir)).Files);
    }

    [Fact]
    public async Task Registering_without_a_terminal_prints_progress_lines_not_a_bar()
    {
        // A job's log: lines, never carriage returns.
        var (exit, output, error) = await RegisterFromInputAsync(Dir(), 3000, 500, terminal: false, progressSeconds: "0");
        Assert.True(exit == 0, error);
        var progress = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(progress);
        Assert.All(progress, l => Assert.Matches(@"^[\d,]+ files after \d\d:\d\d:\d\d \([\d,]+/s\)$", l));
        Assert.DoesNotContain('\r', error);
        Assert.Contains("created 3,000", output);
    }

    [Fact]
    public async Task A_token_with_a_trailing_carriage_return_or_spaces_works_and_no_error_prints_a_stack_trace()
    {
        var ok = await RunWith(fx.Factory.Server.CreateHandler(), null, ["whoami"],
            new() { ["CATALOG_URL"] = "http://localhost", ["CATALOG_TOKEN"] = fx.AdminToken + "\r\n " });
        Assert.True(ok.Exit == 0, ok.Err);
        Assert.Contains("test-admin", ok.Out);
        // A token that cannot go into a header at all is one line on stderr and exit 1, never a stack trace.
        var bad = await RunWith(fx.Factory.Server.CreateHandler(), null, ["whoami"],
            new() { ["CATALOG_URL"] = "http://localhost", ["CATALOG_TOKEN"] = "abc\ndef" });
        Assert.Equal(1, bad.Exit);
        Assert.DoesNotContain("   at ", bad.Err);
        Assert.StartsWith("catalog: ", bad.Err);
    }

    private static string Dir([System.Runtime.CompilerServices.CallerMemberName] string name = "") => TestData.Dir("cli-" + name[..Math.Min(name.Length, 30)]);

    private static List<JsonElement> Lines(string ndjson) =>
        ndjson.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();

    [Fact]
    public async Task Se_add_then_ls_shows_it_in_table_and_json()
    {
        var name = $"CLI-{Guid.NewGuid():N}"[..16];
        var add = await Run("se", "add", name, "--site", "TEST", "--base-url", "root://cli.test:1094//data", "--read-only");
        Assert.Equal(0, add.Exit);
        Assert.Equal($"storage element {name}: site TEST, root://cli.test:1094//data, online, reads, no writes", add.Out.Trim());

        var table = await Run("se", "ls");
        Assert.Equal(0, table.Exit);
        Assert.Contains("NAME", table.Out);
        Assert.Matches($@"{name}\s+TEST\s+online\s+yes\s+no", table.Out);

        var json = await Run("se", "ls", "--json");
        var se = JsonDocument.Parse(json.Out).RootElement.EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        Assert.False(se.GetProperty("writeEnabled").GetBoolean());
    }

    [Fact]
    public async Task Mkdir_ls_stat_mv_rm_du_work_on_the_namespace()
    {
        var dir = Dir();
        Assert.Equal(0, (await Run("mkdir", "-p", $"{dir}/a/b", $"{dir}/x")).Exit);
        var noParents = await Run("mkdir", $"{dir}/missing/child");
        Assert.Equal(1, noParents.Exit);
        Assert.Contains("NOT_FOUND", noParents.Err);

        Assert.Equal("a/\nx/\n", (await Run("ls", dir)).Out);
        Assert.Matches(@"^drwxr-xr-x +- +test-admin +root +0 +\d{4}-\d\d-\d\d \d\d:\d\d +a/$", (await Run("ls", "-l", dir)).Out.Split('\n')[0]);
        Assert.Contains($"Directory: {dir}/a", (await Run("stat", $"{dir}/a")).Out);

        Assert.Equal(0, (await Run("mv", $"{dir}/a", $"{dir}/c")).Exit);
        Assert.Equal(["c", "x"], Lines((await Run("ls", "--json", dir)).Out).Select(e => e.GetProperty("name").GetString()));

        var notEmpty = await Run("rm", $"{dir}/c", $"{dir}/x");
        Assert.Equal(3, notEmpty.Exit);
        Assert.Contains($"{dir}/c: NOT_EMPTY", notEmpty.Err);
        Assert.Equal(0, (await Run("rm", "-r", $"{dir}/c")).Exit);
        Assert.Equal(3, (await Run("rm", $"{dir}/c")).Exit);
        Assert.Equal(0, (await Run("rm", "-f", $"{dir}/c")).Exit);
        Assert.Equal("", (await Run("ls", dir)).Out); // x was empty: removed by the first rm, per item

        var du = await Run("du", "--json", dir);
        Assert.Equal(0, JsonDocument.Parse(du.Out).RootElement.GetProperty("files").GetInt64());
    }

    [Fact]
    public async Task Ls_pages_through_a_directory_and_stops_at_the_limit()
    {
        var dir = Dir();
        var se = await fx.NewStorageElementAsync();
        await fx.Client.RegisterAsync(Enumerable.Range(0, 7).Select(i => TestData.File($"{dir}/f{i}.root", se)).ToList());

        Assert.Equal(Enumerable.Range(0, 7).Select(i => $"f{i}.root"), (await Run("ls", "--page-size", "2", dir)).Out.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var limited = await Run("ls", "--limit", "3", dir);
        Assert.Equal("f0.root\nf1.root\nf2.root\n", limited.Out);
        var cursor = System.Text.RegularExpressions.Regex.Match(limited.Err, "--after '([^']+)'").Groups[1].Value;
        Assert.Equal("f3.root\nf4.root\n", (await Run("ls", "--after", cursor, "-n", "2", dir)).Out);
        Assert.Equal("", (await Run("ls", "-n", "7", dir)).Err);
        Assert.Equal("f5.root\n", (await Run("ls", $"{dir}/f5.root")).Out);
    }

    [Fact]
    public async Task Register_one_file_from_arguments_then_stat_replicas_and_du()
    {
        var dir = Dir();
        var se = await fx.NewStorageElementAsync();
        var lfn = $"{dir}/mdst_000001_prod00012345_task10020000001.root";

        var register = await Run("register", lfn, "--size", "2048", "--adler32", "0a1b2c3d", "--se", se, "--meta", "experiment=12", "--meta", "release=release-08-01-00");
        Assert.Equal(0, register.Exit);
        Assert.Equal("created 1, existing 0, failed 0\n", register.Out);

        var stat = await Run("stat", "--json", lfn);
        var file = JsonDocument.Parse(stat.Out).RootElement;
        Assert.Equal(2048, file.GetProperty("size").GetInt64());
        Assert.Equal(12, file.GetProperty("metadata").GetProperty("experiment").GetInt32());
        Assert.Equal("release-08-01-00", file.GetProperty("metadata").GetProperty("release").GetString());
        Assert.Contains("Adler32:   0a1b2c3d", (await Run("stat", lfn)).Out);

        var replicas = await Run("replicas", lfn);
        Assert.Equal(0, replicas.Exit);
        Assert.Matches($@"{Escape(lfn)}\s+{se}\s+available\s+root://", replicas.Out);

        var du = await Run("du", dir);
        Assert.Matches($@"{Escape(dir)}\s+1\s+2048\s+2\.0 KiB", du.Out);
        Assert.Matches($@"{se}\s+1\s+2048", du.Out);

        Assert.Equal(0, (await Run("register", lfn, "--size", "2048", "--adler32", "0a1b2c3d", "--se", se)).Exit);
        var conflict = await Run("register", lfn, "--size", "999", "--adler32", "0a1b2c3d", "--se", se);
        Assert.Equal(3, conflict.Exit);
        Assert.Contains("CONFLICT", conflict.Err);
    }

    [Fact]
    public async Task Register_from_an_ndjson_file_reports_partial_failure_with_exit_3_and_lists_the_failed_items()
    {
        var dir = Dir();
        var se = await fx.NewStorageElementAsync();
        var path = Path.Combine(_home, "files.ndjson");
        File.WriteAllLines(path,
        [
            $$"""{"lfn": "{{dir}}/a.root", "size": 10, "adler32": "00000001", "replicas": [{"se": "{{se}}"}]}""",
            "# a comment, then a blank line",
            "",
            $$"""{"lfn": "{{dir}}/b.root", "size": 10, "adler32": "00000002", "replicas": [{"se": "NO-SUCH-SE"}]}""",
            $$"""{"lfn": "{{dir}}/c.root", "size": 10, "adler32": "00000003", "replicas": [{"se": "{{se}}"}], "metadata": {"run": 7} }""",
        ]);

        var first = await Run("register", "--file", path, "--batch-size", "2");
        Assert.Equal(3, first.Exit);
        Assert.Equal("created 2, existing 0, failed 1\n", first.Out);
        Assert.Contains($"item 1: {dir}/b.root: UNKNOWN_STORAGE_ELEMENT", first.Err);

        var again = await Run("register", "--json", "--file", path);
        Assert.Equal(3, again.Exit);
        var summary = JsonDocument.Parse(again.Out).RootElement;
        Assert.Equal(2, summary.GetProperty("existing").GetInt32());
        Assert.Equal($"{dir}/b.root", summary.GetProperty("failures")[0].GetProperty("lfn").GetString());
        Assert.Equal(2, (await fx.Client.UsageAsync(dir)).Files);
    }

    [Fact]
    public async Task Register_reads_a_json_array_from_stdin_and_stops_at_a_malformed_ndjson_line()
    {
        var dir = Dir();
        var se = await fx.NewStorageElementAsync();
        var array = $$"""[{"lfn": "{{dir}}/a.root", "size": 1, "adler32": "00000001", "replicas": [{"se": "{{se}}"}]}, {"lfn": "{{dir}}/b.root", "size": 1, "adler32": "00000001"}]""";
        var ok = await RunStdin(array, "register", "--file", "-");
        Assert.Equal(0, ok.Exit);
        Assert.Equal("created 2, existing 0, failed 0\n", ok.Out);

        var bad = await RunStdin($$"""{"lfn": "{{dir}}/c.root", "size": 1, "adler32": "00000001"}""" + "\n{not json\n", "register", "--file", "-");
        Assert.Equal(1, bad.Exit);
        Assert.Contains("standard input line 2", bad.Err);
        Assert.DoesNotContain("   at ", bad.Err);
    }

    [Fact]
    public async Task Replicas_streams_many_lfns_from_stdin_and_reports_unknown_ones()
    {
        var dir = Dir();
        var se = await fx.NewStorageElementAsync();
        await fx.Client.RegisterAsync([TestData.File($"{dir}/a.root", se), TestData.File($"{dir}/b.root", se)]);

        var result = await RunStdin($"{dir}/a.root\n{dir}/nope.root\n{dir}/b.root\n", "replicas", "--json");
        Assert.Equal(3, result.Exit);
        var lines = Lines(result.Out);
        Assert.Equal([$"{dir}/a.root", $"{dir}/nope.root", $"{dir}/b.root"], lines.Select(l => l.GetProperty("lfn").GetString()));
        Assert.Equal("NOT_FOUND", lines[1].GetProperty("error").GetProperty("code").GetString());
        Assert.Contains($"{dir}/nope.root: NOT_FOUND", result.Err);

        Assert.Equal(0, (await RunStdin($"{dir}/a.root\n", "replicas", "-")).Exit);
    }

    [Fact]
    public async Task Add_replica_set_state_and_remove_replica_answer_per_item()
    {
        var dir = Dir();
        var (se1, se2) = (await fx.NewStorageElementAsync(), await fx.NewStorageElementAsync());
        var lfn = $"{dir}/a.root";
        await fx.Client.RegisterAsync([TestData.File(lfn, se1)]);

        Assert.Equal("added 1\n", (await Run("add-replica", lfn, se2, "--pfn", "root://elsewhere//a.root")).Out);
        Assert.Equal("updated 1\n", (await Run("replica-state", lfn, se2, "being_copied")).Out);
        var replicas = await fx.Client.ListReplicasAsync(lfn, all: true);
        Assert.Equal(ReplicaState.BeingCopied, replicas.Single(r => r.Se == se2).State);
        Assert.Equal("root://elsewhere//a.root", replicas.Single(r => r.Se == se2).Pfn);

        var unknown = await Run("add-replica", lfn, "NO-SUCH-SE");
        Assert.Equal(3, unknown.Exit);
        Assert.Contains("UNKNOWN_STORAGE_ELEMENT", unknown.Err);

        var many = await RunStdin($$"""
            {"lfn": "{{lfn}}", "se": "{{se2}}"}
            {"lfn": "{{dir}}/missing.root", "se": "{{se2}}"}
            {"lfn": "relative.root", "se": "{{se2}}"}
            """, "rm-replica", "--file", "-", "--json");
        Assert.Equal(3, many.Exit);
        var results = JsonDocument.Parse(many.Out).RootElement.GetProperty("results");
        Assert.Equal(["removed", "absent", "failed"], results.EnumerateArray().Select(r => r.GetProperty("outcome").GetString()));
        Assert.Contains("item 2: relative.root", many.Err);
        Assert.Equal([se1], (await fx.Client.ListReplicasAsync(lfn)).Select(r => r.Se));
    }

    [Theory]
    [InlineData("ls")]
    [InlineData("frobnicate")]
    [InlineData("register")]
    [InlineData("mkdir", "-m", "9z", "/belle/x")]
    [InlineData("replica-state", "/belle/x.root", "KEK-DISK", "shiny")]
    [InlineData("ls", "--limit", "0", "/belle")]
    [InlineData("ls", "--no-such-option", "/belle")]
    [InlineData("se")]
    public async Task Bad_arguments_exit_2_with_the_usage_line(params string[] args)
    {
        var result = await Run(args);
        Assert.Equal(2, result.Exit);
        Assert.Contains("Usage: catalog", result.Err);
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task Every_command_has_help_with_an_example()
    {
        var root = CatalogCli.Build(new CliConsole { Out = TextWriter.Null, Error = TextWriter.Null, In = Stream.Null });
        var paths = root.Subcommands.SelectMany(c => c.Subcommands.Count == 0 ? [new[] { c.Name }] : c.Subcommands.Select(s => new[] { c.Name, s.Name }).Prepend([c.Name]));
        foreach (var path in paths.Append([]))
        {
            var help = await Run([.. path, "--help"]);
            Assert.Equal(0, help.Exit);
            Assert.Contains("Usage:", help.Out);
            Assert.Contains("Example:\n  catalog ", help.Out);
        }
    }

    [Fact]
    public async Task An_unreachable_server_is_a_clear_message_and_exit_1_without_a_stack_trace()
    {
        var result = await RunWith(null, null, ["--retries", "1", "ls", "/belle"], new() { ["CATALOG_URL"] = "http://127.0.0.1:1" });
        Assert.Equal(1, result.Exit);
        Assert.Contains("cannot reach the catalog at http://127.0.0.1:1", result.Err);
        Assert.Contains("attempt 1 failed", result.Err);
        Assert.DoesNotContain("   at ", result.Err);
    }

    [Fact]
    public async Task The_process_itself_exits_1_for_an_unreachable_server_and_0_for_help()
    {
        // The tool's own build (test.sh builds the whole solution), with its own dependencies.
        var dll = Path.Combine(CatalogFixture.RepoRoot, "Catalog.Cli", "bin", "Release", "net10.0", "catalog.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: build Catalog.sln -c Release");
        var (exit, _, err) = await Process(dll, "--url", "http://127.0.0.1:1", "--retries", "0", "stat", "/belle");
        Assert.Equal(1, exit);
        Assert.Contains("cannot reach the catalog", err);
        Assert.DoesNotContain("   at ", err);
        Assert.Equal(0, (await Process(dll, "--help")).Exit);
        Assert.Equal(2, (await Process(dll, "stat")).Exit);
    }

    [Fact]
    public async Task A_read_answered_503_twice_is_retried_and_a_move_is_not()
    {
        var (server, faults) = FaultInjection.Server(fx);
        await using var _ = server;
        faults.RetryAfter = TimeSpan.Zero;
        var dir = Dir();
        await fx.Client.MakeDirectoryAsync($"{dir}/a", parents: true);

        faults.Fail(FaultInjection.AnyRequest, 2);
        var stat = await RunWith(server.Server.CreateHandler(), null, ["stat", $"{dir}/a"]);
        Assert.Equal(0, stat.Exit);
        Assert.Equal(3, faults.Seen(FaultInjection.AnyRequest));
        Assert.Contains("attempt 2 failed (HTTP 503", stat.Err);

        faults.Fail(FaultInjection.AnyRequest, 1);
        var move = await RunWith(server.Server.CreateHandler(), null, ["mv", $"{dir}/a", $"{dir}/b"]);
        Assert.Equal(1, move.Exit);
        Assert.Equal(4, faults.Seen(FaultInjection.AnyRequest));
        Assert.Contains("OVERLOADED", move.Err);
        Assert.Equal("a/\n", (await Run("ls", dir)).Out);
    }

    [Fact]
    public async Task Token_issue_whoami_revoke_chmod_chown_and_audit_from_the_command_line()
    {
        var dir = Dir();
        var who = "cli-" + Guid.NewGuid().ToString("N")[..8];
        var issue = await Run("token", "issue", who, "--role", "producer", "--scope", $"storage.create:{dir}", "--scope", $"storage.read:{dir}", "--lifetime", "1h");
        Assert.Equal(0, issue.Exit);
        var token = issue.Out.Trim();
        Assert.Equal(3, token.Split('.').Length);

        var me = await RunWith(fx.Factory.Server.CreateHandler(), null, ["whoami", "--json"],
            new() { ["CATALOG_URL"] = "http://localhost", ["CATALOG_TOKEN"] = token });
        Assert.Equal(who, JsonDocument.Parse(me.Out).RootElement.GetProperty("subject").GetString());

        // Commands that change something say what the entry is now.
        var mkdir = await Run("mkdir", "-p", dir);
        Assert.Equal(0, mkdir.Exit);
        Assert.StartsWith($"{dir}: directory, owner ", mkdir.Out);
        var chown = await Run("chown", $"{who}:prod", dir);
        Assert.Equal(0, chown.Exit);
        Assert.Contains($"owner {who}, group prod", chown.Out);
        var chmod = await Run("chmod", "750", dir);
        Assert.Equal(0, chmod.Exit);
        Assert.Contains("mode 750", chmod.Out);
        var stat = JsonDocument.Parse((await Run("stat", "--json", dir)).Out).RootElement;
        Assert.Equal((who, "prod", 0x1E8), (stat.GetProperty("owner").GetString(), stat.GetProperty("group").GetString(), stat.GetProperty("mode").GetInt32()));
        Assert.Equal(2, (await Run("chmod", "rwx", dir)).Exit);

        var asProducer = await RunWith(fx.Factory.Server.CreateHandler(), null, ["mkdir", $"{dir}/mine"],
            new() { ["CATALOG_URL"] = "http://localhost", ["CATALOG_TOKEN"] = token });
        Assert.Equal(0, asProducer.Exit);
        var outside = await RunWith(fx.Factory.Server.CreateHandler(), null, ["mkdir", $"{dir}-elsewhere"],
            new() { ["CATALOG_URL"] = "http://localhost", ["CATALOG_TOKEN"] = token });
        Assert.Equal(1, outside.Exit);
        Assert.Contains("FORBIDDEN", outside.Err);

        var id = JsonDocument.Parse((await Run("token", "ls", "--json", "--subject", who)).Out).RootElement[0].GetProperty("id").GetString()!;
        var revoke = await Run("token", "revoke", id);
        Assert.Equal(0, revoke.Exit);
        Assert.Contains($"revoked token {id} of {who}", revoke.Out);
        var revoked = await RunWith(fx.Factory.Server.CreateHandler(), null, ["whoami"], new() { ["CATALOG_URL"] = "http://localhost", ["CATALOG_TOKEN"] = token });
        Assert.Equal(1, revoked.Exit);
        Assert.Contains("revoked", revoked.Err);
        Assert.Contains("--token, CATALOG_TOKEN", revoked.Err);

        // Every live token of an identity at once; ids and --subject together (or neither) are a usage error.
        var second = (await Run("token", "issue", who, "--role", "reader", "--lifetime", "1h")).Out.Trim();
        var third = (await Run("token", "issue", who, "--role", "reader", "--lifetime", "1h")).Out.Trim();
        Assert.Equal(2, (await Run("token", "revoke")).Exit);
        Assert.Equal(2, (await Run("token", "revoke", id, "--subject", who)).Exit);
        var all = await Run("token", "revoke", "--subject", who);
        Assert.Equal(0, all.Exit);
        Assert.Equal(2, all.Out.Split('\n').Count(l => l.StartsWith($"revoked token ", StringComparison.Ordinal) && l.Contains($" of {who}:"))); // one per live token
        foreach (var t in new[] { second, third })
            Assert.Equal(1, (await RunWith(fx.Factory.Server.CreateHandler(), null, ["whoami"], new() { ["CATALOG_URL"] = "http://localhost", ["CATALOG_TOKEN"] = t })).Exit);
        Assert.Contains("has no live token", (await Run("token", "revoke", "--subject", who)).Out);

        for (var i = 0; i < 50; i++)
        {
            var audit = await Run("audit", "--json", "--subject", who);
            if (Lines(audit.Out).Any(r => r.GetProperty("action").GetString() == "mkdir")) return;
            await Task.Delay(100);
        }
        Assert.Fail("the producer's mkdir never showed up in the audit trail");
    }

    [Fact]
    public async Task Metadata_commands_declare_tag_register_query_and_summarize()
    {
        var area = $"/belle/m/cli-{Guid.NewGuid():N}";
        var se = await fx.NewStorageElementAsync();
        Assert.Equal(0, (await Run("mkdir", "-p", area)).Exit);
        Assert.Equal(0, (await Run("attr", "add", area, "mcEventType", "string", "--directories", "--allowed", "mixed", "--allowed", "charged")).Exit);
        Assert.Equal(0, (await Run("attr", "add", area, "nEvents", "integer", "--indexed")).Exit);
        Assert.Matches(@"mcEventType\s+string\s+directories\s+no\s+""mixed"",""charged""", (await Run("attr", "ls", area)).Out);
        Assert.Equal(2, (await Run("attr", "add", area, "x", "complex")).Exit);

        Assert.Equal(0, (await Run("dataset", "create", $"{area}/mixed", "--meta", "mcEventType=mixed", "--block-size", "2")).Exit);
        var files = string.Join("\n", Enumerable.Range(0, 3).Select(i =>
            $$"""{"lfn": "f{{i}}.root", "dataset": "{{area}}/mixed", "size": 100, "adler32": "00000001", "replicas": [{"se": "{{se}}"}], "metadata": {"nEvents": {{i * 10}}} }"""));
        var register = await RunStdin(files, "register", "--file", "-");
        Assert.Equal("created 3, existing 0, failed 0\n", register.Out);

        Assert.Equal(0, (await Run("meta", "set", $"{area}/mixed/sub01/f2.root", "nEvents=99")).Exit);
        var bad = await Run("meta", "set", $"{area}/mixed/sub01/f2.root", "nEvents=lots");
        Assert.Equal(3, bad.Exit);
        Assert.Contains("not a valid integer", bad.Err);
        var got = await Run("meta", "get", $"{area}/mixed/sub01/f2.root");
        Assert.Contains("nEvents = 99", got.Out);
        Assert.Contains("mcEventType = \"mixed\"   (inherited)", got.Out);

        var query = await Run("query", "mcEventType = 'mixed' and nEvents >= 10", "--under", area, "--attrs", "nEvents");
        Assert.Equal([$"{area}/mixed/sub00/f1.root  nEvents=10", $"{area}/mixed/sub01/f2.root  nEvents=99"], query.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order());
        var badQuery = await Run("query", "nEvents = 'x'", "--under", area);
        Assert.Equal(1, badQuery.Exit);
        Assert.Contains("position 10", badQuery.Err);

        Assert.Contains("\"mixed\"", (await Run("facets", "--under", area, "--attrs", "mcEventType")).Out);
        var info = await Run("dataset", "info", $"{area}/mixed");
        Assert.Contains("Files:       3 in 2 datablocks", info.Out);
        Assert.Contains("Events:      109", info.Out);
        Assert.Matches($@"^FILES +CREATED +STATE +DATASET\n +3 +\d{{4}}-\d\d-\d\d \d\d:\d\d +open +{System.Text.RegularExpressions.Regex.Escape(area)}/mixed\n$", (await Run("dataset", "ls", area)).Out);

        Assert.Equal(0, (await Run("dataset", "close", $"{area}/mixed")).Exit);
        Assert.Equal(0, (await Run("collection", "create", $"{area}/collection/c1", "--member", $"{area}/mixed")).Exit);
        Assert.Contains($"  {area}/mixed", (await Run("collection", "info", $"{area}/collection/c1")).Out);
        Assert.Equal(3, (await Run("query", "nEvents exists", "--under", $"{area}/collection/c1")).Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal("", (await Run("lineage", $"{area}/mixed/sub00/f0.root")).Out);
    }

    [Fact]
    public void Url_and_token_come_from_options_then_environment_then_the_config_file()
    {
        var config = Path.Combine(_home, "catalog.json");
        File.WriteAllText(config, """{"url": "http://from-file:1", "token": "file-token"}""");
        CliConsole Console(Dictionary<string, string> env) =>
            new() { Out = TextWriter.Null, Error = TextWriter.Null, In = Stream.Null, Environment = n => env.GetValueOrDefault(n) };

        var fromFile = CliSettings.Resolve(null, null, null, Console(new() { ["CATALOG_CONFIG"] = config }));
        Assert.Equal(("http://from-file:1/", "file-token"), (fromFile.BaseAddress.ToString(), fromFile.Token));

        var fromEnv = CliSettings.Resolve(null, null, null, Console(new() { ["CATALOG_CONFIG"] = config, ["CATALOG_URL"] = "http://env:2", ["CATALOG_TOKEN"] = "env-token" }));
        Assert.Equal(("http://env:2/", "env-token"), (fromEnv.BaseAddress.ToString(), fromEnv.Token));

        var fromOptions = CliSettings.Resolve("http://opt:3", "opt-token", config, Console(new() { ["CATALOG_URL"] = "http://env:2" }));
        Assert.Equal(("http://opt:3/", "opt-token"), (fromOptions.BaseAddress.ToString(), fromOptions.Token));

        var defaults = CliSettings.Resolve(null, null, null, Console(new() { ["HOME"] = _home }));
        Assert.Equal(("http://127.0.0.1:5080/", null), (defaults.BaseAddress.ToString(), defaults.Token));

        Assert.Throws<CliUsageException>(() => CliSettings.Resolve("ftp://x", null, null, Console(new() { ["HOME"] = _home })));
        Assert.Throws<CliUsageException>(() => CliSettings.Resolve(null, null, Path.Combine(_home, "absent.json"), Console(new())));
    }

    private static string Escape(string s) => System.Text.RegularExpressions.Regex.Escape(s);

    private static async Task<(int Exit, string Out, string Err)> Process(string dll, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet", [dll, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.Environment["HOME"] = Path.GetTempPath();
        psi.Environment.Remove("CATALOG_URL");
        using var process = System.Diagnostics.Process.Start(psi)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout, await stderr);
    }
}
