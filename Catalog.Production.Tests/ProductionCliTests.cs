using System.Text.Json;
using Catalog.Contracts;

namespace Catalog.Production.Tests;

[Collection(GridCollection.Name)]
public class ProductionCliTests(GridFixture grid)
{
    private Task<(int Code, string Out, string Err)> Run(params string[] args) => grid.RunCliAsync(args);

    [Fact]
    public async Task A_production_is_created_watched_and_listed_from_the_command_line()
    {
        var name = ProductionRunTests.Unique("cli");
        var (code, stdout, stderr) = await Run("production", "create", "--name", name, "--output", $"/belle/MC/t/{name}/mdst",
            "--release", "release-08-01-00", "--global-tag", "main_2024", "--experiment", "1003", "--runs", "0-4",
            "--events", "2000", "--events-per-job", "1000", "--site", "KEK", "--output-size", "4096");
        Assert.True(code == 0, stderr);
        Assert.Contains("2 jobs planned at KEK", stdout);
        await grid.WaitAsync(name, s => s.State == ProductionState.Done, TimeSpan.FromSeconds(150));

        (code, stdout, _) = await Run("production", "status", name, "--json");
        Assert.Equal(0, code);
        Assert.Equal(2, JsonSerializer.Deserialize<ProductionStatus>(stdout, CatalogJson.Options)!.ByState["registered"]);
        (code, stdout, _) = await Run("production", "jobs", name);
        Assert.Equal(0, code);
        Assert.Equal(2, stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Count(l => l.Contains("registered") && l.Contains($"/belle/MC/t/{name}/mdst/sub00/")));
        (code, stdout, _) = await Run("production", "ls");
        Assert.Contains(name, stdout);
    }

    [Fact]
    public async Task Mistakes_get_the_CLIs_exit_codes_and_name_the_field()
    {
        var (code, _, stderr) = await Run("production", "create", "--name", "x", "--output", "/belle/MC/t/x", "--runs", "9-1");
        Assert.Equal(2, code);
        Assert.Contains("--runs", stderr);
        (code, _, stderr) = await Run("production", "create", "--name", ProductionRunTests.Unique("nogt"), "--output", "/belle/MC/t/y/mdst",
            "--release", "r", "--events", "10", "--events-per-job", "5");
        Assert.Equal(1, code);
        Assert.Contains("globalTag", stderr);
        (code, _, stderr) = await Run("production", "status", "no-such-production");
        Assert.Equal(1, code);
        Assert.Contains("NOT_FOUND", stderr);
        (code, _, stderr) = await Run("production", "ls", "--production-url", "http://127.0.0.1:1");
        Assert.Equal(1, code);
        Assert.Contains("cannot reach the production service", stderr);
    }
}
