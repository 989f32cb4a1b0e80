using System.Text.Json;
using Catalog.Cli;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Cli;

/// <summary>
/// What a grid user expects of ls, find and replicas: -R, -d, a pattern in the last component,
/// a replica column and aligned, grouped numbers with -l, octal modes, SE expressions, states and
/// bare PFNs; an unknown option is a usage error, never a path; completion comes from the command.
/// </summary>
[Collection(CatalogCollection.Name)]
public class CliListingTests(CatalogFixture fx)
{
    private readonly string _home = Directory.CreateTempSubdirectory("catalog-cli-home").FullName;

    private async Task<CliTests.Result> Run(params string[] args)
    {
        var env = new Dictionary<string, string> { ["CATALOG_URL"] = "http://localhost", ["CATALOG_TOKEN"] = fx.AdminToken, ["HOME"] = _home };
        var output = new StringWriter();
        var error = new StringWriter();
        var requests = 0;
        var console = new CliConsole
        {
            Out = output, Error = error, In = new MemoryStream(), InputRedirected = false, Interactive = false,
            Environment = name => env.GetValueOrDefault(name),
            Transport = new Counting(fx.Factory.Server.CreateHandler(), () => requests++),
        };
        var exit = await CatalogCli.RunAsync(args, console);
        Requests = requests;
        return new CliTests.Result(exit, output.ToString(), error.ToString());
    }

    private int Requests { get; set; }

    private sealed class Counting(HttpMessageHandler inner, Action count) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            count();
            return base.SendAsync(request, ct);
        }
    }

    private static string[] LinesOf(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public async Task An_unknown_option_where_a_path_belongs_is_a_usage_error_and_asks_no_server()
    {
        var result = await Run("ls", "--no-such-option");
        Assert.Equal(2, result.Exit);
        Assert.Contains("unknown option '--no-such-option'", result.Err);
        Assert.Contains("Usage: catalog ls", result.Err);
        Assert.Equal(0, Requests);
        Assert.Equal(2, (await Run("stat", "/belle", "-x")).Exit);
    }

    [Fact]
    public async Task Ls_recursive_directory_patterns_and_the_long_format()
    {
        var se = await fx.NewStorageElementAsync();
        var other = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("cli-ls");
        await fx.Client.RegisterAsync([
            TestData.File($"{dir}/sub00/a.root", se, size: 1_234_567), TestData.File($"{dir}/sub01/b.root", se), TestData.File($"{dir}/sub01/deep/c.root", se),
            TestData.File($"{dir}/sub10/d.root", se), TestData.File($"{dir}/top.root", se, size: 5)]);
        await fx.Client.AddReplicasAsync([new ReplicaRef($"{dir}/sub00/a.root", other)]);

        // -d: the directory itself; a pattern: the matching directories' entries, each under its path.
        Assert.Equal([dir.Split('/')[^1] + "/"], LinesOf((await Run("ls", "-d", dir)).Out));
        var pattern = await Run("ls", $"{dir}/sub0*");
        Assert.Equal(0, pattern.Exit);
        Assert.Equal([$"{dir}/sub00:", "a.root", $"{dir}/sub01:", "b.root", "deep/"], LinesOf(pattern.Out));
        Assert.Equal(["sub00/", "sub01/"], LinesOf((await Run("ls", "-d", $"{dir}/sub0[0-1]")).Out));
        Assert.Equal(["top.root"], LinesOf((await Run("ls", $"{dir}/t?p.root")).Out));
        var none = await Run("ls", $"{dir}/nothing*");
        Assert.Equal(1, none.Exit);
        Assert.Contains("matches 'nothing*'", none.Err);
        Assert.Equal(2, (await Run("ls", $"{dir}/sub*/x")).Exit);

        // -R: every directory below, depth first in name order.
        var all = LinesOf((await Run("ls", "-R", dir)).Out);
        Assert.Equal([$"{dir}:", "sub00/", "sub01/", "sub10/", "top.root", $"{dir}/sub00:", "a.root", $"{dir}/sub01:", "b.root", "deep/",
            $"{dir}/sub01/deep:", "c.root", $"{dir}/sub10:", "d.root"], all);

        // -l: a replica count per file, sizes grouped by thousands, columns aligned.
        var longLines = LinesOf((await Run("ls", "-l", $"{dir}/sub00")).Out)
            .Concat(LinesOf((await Run("ls", "-l", dir)).Out)).ToList();
        var a = longLines.Single(l => l.EndsWith(" a.root"));
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(a, @"^-rw-r--r-- +2 +\S+ +\S+ +1,234,567 +\d{4}-\d\d-\d\d \d\d:\d\d +a\.root$"), a);
        var top = LinesOf((await Run("ls", "-l", dir)).Out);
        Assert.Matches(@"^drwxr-xr-x +- ", top[0]);
        Assert.Single(top.Select(l => l.Length - l.Split(' ')[^1].Length).Distinct()); // names start in one column
        Assert.Contains(" 1 ", top.Single(l => l.EndsWith(" top.root")));

        // stat shows the mode in octal too.
        Assert.Contains("-rw-r--r-- (644)", (await Run("stat", $"{dir}/top.root")).Out);
        Assert.Contains("drwxr-xr-x (755)", (await Run("stat", dir)).Out);
    }

    [Fact]
    public async Task Find_by_name_pattern_owner_and_type()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("cli-find");
        await fx.Client.RegisterAsync([TestData.File($"{dir}/a/x.root", se), TestData.File($"{dir}/a/y.log", se), TestData.File($"{dir}/b/c/z.root", se)]);
        await fx.Client.ChangeOwnerAsync($"{dir}/b/c/z.root", "alice", null);

        Assert.Equal([$"{dir}/a/x.root", $"{dir}/b/c/z.root"], LinesOf((await Run("find", dir, "--name", "*.root")).Out));
        Assert.Equal([$"{dir}/b/c/z.root"], LinesOf((await Run("find", dir, "--owner", "alice")).Out));
        Assert.Equal([$"{dir}/a", $"{dir}/b", $"{dir}/b/c"], LinesOf((await Run("find", dir, "--type", "d")).Out));
        Assert.Equal([$"{dir}/a/y.log"], LinesOf((await Run("find", dir, "--name", "y.log", "--type", "f")).Out));
        Assert.Equal(2, (await Run("find", dir, "--type", "x")).Exit);
        Assert.Equal(2, (await Run("find", dir, "--name", "a/x.root")).Exit);
    }

    [Fact]
    public async Task Replicas_restricted_to_an_SE_expression_and_a_state_and_printed_as_bare_PFNs()
    {
        var tag = Guid.NewGuid().ToString("N")[..8];
        var t1 = $"T1-{tag}";
        var t2 = $"T2-{tag}";
        await fx.Client.PutStorageElementAsync(t1, new StorageElementSpec("SITE1", "root", $"root://t1-{tag}.test:1094//data", Attributes: new Dictionary<string, string> { ["tier"] = "1", ["clitest"] = tag }));
        await fx.Client.PutStorageElementAsync(t2, new StorageElementSpec("SITE2", "root", $"root://t2-{tag}.test:1094//data", Attributes: new Dictionary<string, string> { ["tier"] = "2", ["clitest"] = tag }));
        var lfn = $"{TestData.Dir("cli-replicas")}/f.root";
        await fx.Client.RegisterAsync([TestData.File(lfn, t1) with { Replicas = [new NewReplica(t1), new NewReplica(t2)] }]);
        await fx.Client.SetReplicaStateAsync([new ReplicaRef(lfn, t2, State: ReplicaState.Bad)]);

        Assert.Equal([$"root://t1-{tag}.test:1094//data{lfn}"], LinesOf((await Run("replicas", "--pfn-only", lfn)).Out));
        Assert.Equal([$"root://t2-{tag}.test:1094//data{lfn}"], LinesOf((await Run("replicas", "--pfn-only", "--state", "bad", lfn)).Out));
        Assert.Empty(LinesOf((await Run("replicas", "--pfn-only", "--se", $"tier=2&clitest={tag}", lfn)).Out)); // bad: not usable
        Assert.Equal([$"root://t2-{tag}.test:1094//data{lfn}"], LinesOf((await Run("replicas", "--all", "--pfn-only", "--se", $"tier>1&clitest={tag}", lfn)).Out));
        var json = JsonDocument.Parse((await Run("replicas", "--json", "--all", "--se", t1, lfn)).Out).RootElement;
        Assert.Equal([t1], json.GetProperty("replicas").EnumerateArray().Select(r => r.GetProperty("se").GetString()));
        var bad = await Run("replicas", "--se", "tier=1&nosuchkey=3", lfn);
        Assert.Equal(2, bad.Exit);
        Assert.Contains("no SE has the attribute 'nosuchkey'", bad.Err);
        Assert.Equal(2, (await Run("replicas", "--state", "gone", lfn)).Exit);
    }

    [Fact]
    public async Task Completion_comes_from_the_command_itself()
    {
        var script = await Run("completion", "bash");
        Assert.Equal(0, script.Exit);
        Assert.Contains("complete -o default -F _catalog_complete catalog ./catalog", script.Out);
        Assert.Contains("[suggest:${COMP_POINT}]", script.Out);
        // What the script asks: the suggest directive, as bash passes the line and the cursor.
        var words = LinesOf((await Run("[suggest:16]", "./catalog replic")).Out);
        Assert.Contains("replicas", words);
        Assert.Contains("replica-state", words);
        Assert.Contains("--recursive", LinesOf((await Run("[suggest:16]", "./catalog ls --r")).Out));
        Assert.Equal(2, (await Run("completion", "fish")).Exit);
    }

    [Fact]
    public async Task Attr_extend_pattern_and_collection_totals_from_the_command_line()
    {
        var area = TestData.Dir("cli-attr").Replace("/belle/t/", "/belle/m/");
        var se = await fx.NewStorageElementAsync();
        Assert.Equal(0, (await Run("mkdir", "-p", area)).Exit);
        Assert.Equal(0, (await Run("attr", "add", area, "beam", "string", "--directories", "--allowed", "4S")).Exit);
        Assert.Equal(0, (await Run("attr", "add", area, "tag", "string", "--directories", "--pattern", "v[0-9]+")).Exit);
        var extended = await Run("attr", "extend", area, "beam", "--allowed", "5S", "--allowed", "offres");
        Assert.Equal(0, extended.Exit);
        Assert.Contains("beam now allows \"4S\", \"5S\", \"offres\"", extended.Out);
        Assert.Contains("matching v[0-9]+", (await Run("attr", "ls", area)).Out);
        Assert.Equal(1, (await Run("dataset", "create", $"{area}/ds", "--meta", "tag=x1")).Exit);
        Assert.Equal(0, (await Run("dataset", "create", $"{area}/ds", "--meta", "tag=v2", "--meta", "beam=5S")).Exit);
        await fx.Client.RegisterAsync([new NewFile("f.root", 2048, "0000000a", Replicas: [new NewReplica(se)], Dataset: $"{area}/ds")]);
        var open = await Run("collection", "create", $"{area}/coll", "--member", $"{area}/ds");
        Assert.Equal(1, open.Exit);
        Assert.Contains("is open; close it first", open.Err);
        Assert.Contains($"{area}/ds: closed, no end of life", (await Run("dataset", "close", $"{area}/ds")).Out);
        Assert.Equal(0, (await Run("collection", "create", $"{area}/coll", "--member", $"{area}/ds")).Exit);
        var info = await Run("collection", "info", $"{area}/coll");
        Assert.Equal(0, info.Exit);
        Assert.Contains("Datasets:    1", info.Out);
        Assert.Contains("Files:       1 in 1 datablocks, 2.0 KiB", info.Out);
        Assert.Matches($@"{se}\s+1 files", info.Out);
    }

    [Fact]
    public async Task Se_add_with_attributes_ls_by_expression_and_rename()
    {
        var tag = "c" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(0, (await Run("se", "add", $"A-{tag}", "--site", "KEK", "--base-url", $"root://{tag}.test//d", "--attr", "tier=0", "--attr", $"clise={tag}")).Exit);
        Assert.Equal(0, (await Run("se", "add", $"B-{tag}", "--site", "DESY", "--base-url", $"root://{tag}b.test//d", "--attr", "tier=1", "--attr", $"clise={tag}")).Exit);
        Assert.Equal(2, (await Run("se", "add", $"C-{tag}", "--site", "X", "--base-url", "root://x.test//d", "--attr", "tier")).Exit);
        var listed = await Run("se", "ls", $"clise={tag}&tier>0");
        Assert.Equal(0, listed.Exit);
        Assert.Contains($"B-{tag}", listed.Out);
        Assert.DoesNotContain($"A-{tag}", listed.Out);
        Assert.Contains($"clise={tag} tier=1", listed.Out);
        Assert.Equal(1, (await Run("se", "ls", "nosuchkey=1")).Exit);
        var renamed = await Run("se", "rename", $"A-{tag}", $"AA-{tag}");
        Assert.Equal(0, renamed.Exit);
        Assert.Contains($"storage element A-{tag} is now AA-{tag}", renamed.Out);
        Assert.Contains($"AA-{tag}", (await Run("se", "ls", $"clise={tag}&tier=0")).Out);
    }
}
