using System.Text.Json;
using System.Text.Json.Nodes;
using Catalog.Api.GraphQL;
using Catalog.Tests.Infrastructure;
using GraphQL.Types;
using GraphQL.Utilities;
using Microsoft.Extensions.DependencyInjection;

namespace Catalog.Tests.Contracts;

/// <summary>
/// The OpenAPI document and the GraphQL SDL are checked in under docs/api. A change to either
/// fails here until the approved file is updated on purpose: run the tests with
/// CATALOG_APPROVE=1 and commit the new file.
/// </summary>
[Collection(CatalogCollection.Name)]
public class ApprovedContractTests(CatalogFixture fx)
{
    [Fact]
    public async Task OpenApi_document_matches_the_approved_file()
    {
        var served = JsonNode.Parse(await fx.Http.GetStringAsync("openapi/v1.json"))!;
        served.AsObject().Remove("servers"); // depends on the host the test server picks
        // Keys sorted ordinally: the generator's own order follows the machine's culture.
        Approve("openapi.v1.json", Canonical(served)!.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    [Fact]
    public void GraphQL_schema_matches_the_approved_sdl()
    {
        var schema = fx.Factory.Services.GetRequiredService<ISchema>();
        schema.Initialize();
        Approve("schema.graphql", new SchemaPrinter(schema).Print() + "\n");
    }

    [Fact]
    public async Task Health_and_readiness()
    {
        Assert.Contains("alive", await fx.Http.GetStringAsync("healthz"));
        Assert.Contains("\"postgres\":\"ok\"", await fx.Http.GetStringAsync("readyz"));
        Assert.Equal(200, (int)(await fx.Http.GetAsync("scalar/v1")).StatusCode);
        // The load tool's constant-JSON baseline exists only where the server is configured for it.
        Assert.Equal(404, (int)(await fx.Http.GetAsync("api/v1/bench/constant?bytes=300")).StatusCode);
        await using var bench = fx.CreateFactory(new Dictionary<string, string?> { ["Catalog:Bench:Enabled"] = "true" });
        using var http = bench.CreateClient();
        Assert.Equal(401, (int)(await http.GetAsync("api/v1/bench/constant")).StatusCode);
        http.DefaultRequestHeaders.Authorization = new("Bearer", fx.AdminToken);
        var body = await http.GetByteArrayAsync("api/v1/bench/constant?bytes=300");
        Assert.Equal(300, body.Length);
        Assert.Equal("x", System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("pad").GetString()![..1]);
        Assert.Equal(1 << 16, (await http.GetByteArrayAsync("api/v1/bench/constant?bytes=5000000")).Length);
    }

    [Fact]
    public async Task The_front_page_says_what_the_server_is_and_where_to_go()
    {
        var se = $"FRONT-{Guid.NewGuid():N}"[..14].ToUpperInvariant();
        await fx.Client.PutStorageElementAsync(se, new Catalog.Contracts.StorageElementSpec("FRONT", "root", "root://front.example:1094/", WriteEnabled: false));
        // Anyone may open it, without a token; its figures are at most 30 s old.
        await using var anonymous = fx.CreateFactory(new Dictionary<string, string?> { ["Catalog:MonitorUrl"] = "http://127.0.0.1:5092/" });
        using var http = anonymous.CreateClient();
        var response = await http.GetAsync("/");
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var page = await response.Content.ReadAsStringAsync();
        Assert.Contains("Version ", page);
        Assert.Contains("<span id=\"postgres\" class=\"ok\">answers</span>", page);
        Assert.Matches(@"<p id=""size"">[\d,]+ files, [\d,]+ bytes under /belle", page);
        Assert.Matches($@"<td>{se}</td><td>FRONT</td><td>online</td><td>closed</td>", page);
        Assert.Contains("<a id=\"monitor\" href=\"http://127.0.0.1:5092/\">", page);
        Assert.Contains("href=\"scalar/v1\"", page);
        // Without Catalog:MonitorUrl there is no dashboard to link.
        Assert.DoesNotContain("id=\"monitor\"", await fx.Http.GetStringAsync("/"));
    }

    private static JsonNode? Canonical(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => KeyValuePair.Create(p.Key, Canonical(p.Value)))),
        JsonArray a => new JsonArray(a.Select(Canonical).ToArray()),
        _ => node?.DeepClone(),
    };

    internal static void Approve(string name, string actual)
    {
        var path = Path.Combine(CatalogFixture.RepoRoot, "docs", "api", name);
        if (Environment.GetEnvironmentVariable("CATALOG_APPROVE") == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, actual);
        }
        Assert.True(File.Exists(path), $"{path} is missing: run the tests with CATALOG_APPROVE=1 to create it");
        Assert.Equal(File.ReadAllText(path), actual);
    }
}
