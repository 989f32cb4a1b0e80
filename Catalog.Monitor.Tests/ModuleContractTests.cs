using System.Text.Json;
using System.Text.Json.Nodes;

namespace Catalog.Monitor.Tests;

/// <summary>
/// The module services' OpenAPI documents are checked in under docs/api, like the catalog's: a
/// change fails here until the approved file is updated on purpose (CATALOG_APPROVE=1, then commit).
/// </summary>
[Collection(MonitorCollection.Name)]
public class ModuleContractTests(MonitorGrid grid)
{
    [Fact]
    public async Task Module_OpenApi_documents_match_the_approved_files()
    {
        using var http = new HttpClient();
        foreach (var (name, url) in new[] { ("production", grid.ProductionUrl), ("transfer", grid.TransferUrl), ("monitor", grid.MonitorUrl) })
        {
            var served = JsonNode.Parse(await http.GetStringAsync(new Uri(url, "openapi/v1.json")))!;
            served.AsObject().Remove("servers"); // the test's free port
            var actual = Canonical(served)!.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
            var path = Path.Combine(MonitorGrid.RepoRoot, "docs", "api", $"{name}.openapi.v1.json");
            if (Environment.GetEnvironmentVariable("CATALOG_APPROVE") == "1") File.WriteAllText(path, actual);
            Assert.True(File.Exists(path), $"{path} is missing: run the tests with CATALOG_APPROVE=1 to create it");
            Assert.True(File.ReadAllText(path) == actual, $"the {name} service's OpenAPI document differs from {path}: approve a change on purpose with CATALOG_APPROVE=1");
        }
    }

    // Keys sorted ordinally: the generator's own order follows the machine's culture.
    private static JsonNode? Canonical(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, Canonical(p.Value)))),
        JsonArray a => new JsonArray(a.Select(Canonical).ToArray()),
        _ => node?.DeepClone(),
    };
}
