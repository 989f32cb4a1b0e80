using System.Text.Json;
using Catalog.Contracts;
using Catalog.Production.Tests;

namespace Catalog.Transfer.Tests;

[Collection(GridCollection.Name)]
public class TransferCliTests(GridFixture grid)
{
    private Task<(int Code, string Out, string Err)> Run(params string[] args) => grid.RunCliAsync(args);

    [Fact]
    public async Task A_rule_is_added_watched_and_removed_and_the_links_shown_from_the_command_line()
    {
        var tests = new TransferTests(grid);
        var dataset = $"/belle/Raw/t/{TransferTests.Unique("cli")}";
        await tests.PlantDatasetAsync(dataset, 2);

        var (code, stdout, stderr) = await Run("rule", "add", "--dataset", dataset, "--copies", "1", "--se", "region=europe", "--lifetime", "1d", "--comment", "second copy");
        Assert.True(code == 0, stderr);
        Assert.Contains("2 files, 1 copy on DESY-DISK", stdout);
        var id = long.Parse(stdout.Split(':')[0]["rule ".Length..]);
        await tests.WaitRuleAsync(id, r => r.State == RuleState.Ok, TimeSpan.FromSeconds(60));

        (code, stdout, _) = await Run("rule", "ls", "--json");
        Assert.Equal(0, code);
        var listed = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonSerializer.Deserialize<RuleInfo>(l, CatalogJson.Options)!).Single(r => r.Id == id);
        Assert.Equal((RuleState.Ok, 2L, "second copy"), (listed.State, listed.LocksOk, listed.Comment));
        (code, stdout, _) = await Run("rule", "info", id.ToString());
        Assert.Equal(0, code);
        Assert.Contains("2 ok, 0 replicating, 0 stuck", stdout);

        (code, stdout, _) = await Run("transfer", "stats");
        Assert.Equal(0, code);
        Assert.Contains(stdout.Split('\n'), l => l.StartsWith("KEK-DISK -> DESY-DISK", StringComparison.Ordinal));
        (code, stdout, _) = await Run("transfer", "ls", "--rule", id.ToString(), "--json");
        Assert.Equal(0, code);
        Assert.All(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => Assert.Equal(TransferState.Done, JsonSerializer.Deserialize<TransferInfo>(l, CatalogJson.Options)!.State));

        (code, stdout, _) = await Run("consistency", "DESY-DISK", "--json");
        Assert.Equal(0, code);
        Assert.True(JsonSerializer.Deserialize<ConsistencyReport>(stdout, CatalogJson.Options)!.CatalogReplicas >= 2);

        (code, _, stderr) = await Run("rule", "add", "--dataset", dataset, "--copies", "1", "--se", "continent=asia");
        Assert.Equal(1, code);
        Assert.Contains("no SE has the attribute 'continent'", stderr);
        (code, _, stderr) = await Run("rule", "add", "--dataset", dataset, "--se", "DESY-DISK", "--lifetime", "soon");
        Assert.Equal(2, code);
        Assert.Contains("--lifetime 'soon'", stderr);

        (code, stdout, _) = await Run("rule", "rm", id.ToString());
        Assert.Equal(0, code);
        Assert.DoesNotContain(await grid.Transfer.ListRulesAsync(), r => r.Id == id);
    }
}
