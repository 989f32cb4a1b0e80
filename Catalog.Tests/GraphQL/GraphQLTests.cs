using System.Diagnostics;
using System.Text.Json;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.GraphQL;

[Collection(CatalogCollection.Name)]
public class GraphQLTests(CatalogFixture fx)
{
    [Fact]
    public async Task Register_then_list_a_directory_with_replicas_by_cursor()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("gql");
        using var registered = await fx.Client.GraphQLAsync("""
            mutation($files: [NewFileInput!]!) { registerFiles(files: $files) { created failed results { status error { code field } } } }
            """, new
        {
            files = Enumerable.Range(0, 5).Select(i => new
            {
                lfn = $"{dir}/f{i}.root", size = 100 + i, adler32 = "0000000a",
                replicas = new[] { new { se } }, metadata = "{\"nEvents\": 10}",
            }).Append(new { lfn = $"{dir}/bad.root", size = -1, adler32 = "0000000a", replicas = new[] { new { se } }, metadata = "{}" }),
        });
        var register = registered.RootElement.GetProperty("data").GetProperty("registerFiles");
        Assert.Equal(5, register.GetProperty("created").GetInt32());
        Assert.Equal("INVALID_ARGUMENT", register.GetProperty("results")[5].GetProperty("error").GetProperty("code").GetString());

        const string list = """
            query($path: String!, $after: String) {
              directory(path: $path, first: 3, after: $after) {
                entries { name type size replicas { se pfn state } }
                pageInfo { hasNextPage endCursor }
              }
            }
            """;
        using var page1 = await fx.Client.GraphQLAsync(list, new { path = dir });
        var directory = page1.RootElement.GetProperty("data").GetProperty("directory");
        Assert.Equal(3, directory.GetProperty("entries").GetArrayLength());
        Assert.True(directory.GetProperty("pageInfo").GetProperty("hasNextPage").GetBoolean());
        Assert.Equal(se, directory.GetProperty("entries")[0].GetProperty("replicas")[0].GetProperty("se").GetString());

        using var page2 = await fx.Client.GraphQLAsync(list, new { path = dir, after = directory.GetProperty("pageInfo").GetProperty("endCursor").GetString() });
        var names = page2.RootElement.GetProperty("data").GetProperty("directory").GetProperty("entries").EnumerateArray()
            .Select(e => e.GetProperty("name").GetString());
        Assert.Equal(["f3.root", "f4.root"], names);
    }

    [Fact]
    public async Task Replicas_of_a_listed_page_come_from_one_batched_query_not_one_per_file()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("gql-batch");
        await fx.Client.RegisterAsync(Enumerable.Range(0, 40).Select(i => TestData.File($"{dir}/f{i:00}.root", se)).ToList());

        var commands = 0;
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = _ => Interlocked.Increment(ref commands),
        };
        ActivitySource.AddActivityListener(listener);
        using var page = await fx.Client.GraphQLAsync("query($p: String!) { directory(path: $p, first: 40) { entries { name replicas { se } } } }", new { p = dir });

        var entries = page.RootElement.GetProperty("data").GetProperty("directory").GetProperty("entries");
        Assert.Equal(40, entries.GetArrayLength());
        Assert.All(entries.EnumerateArray(), e => Assert.Equal(se, e.GetProperty("replicas")[0].GetProperty("se").GetString()));
        // Directory lookup, the page, one bulk replica lookup (its directories, then its rows), plus
        // connection housekeeping: far below one per file.
        Assert.InRange(commands, 1, 8);
    }

    [Fact]
    public async Task Errors_carry_the_same_codes_as_rest()
    {
        using var missing = await fx.Client.GraphQLAsync("{ file(lfn: \"/belle/t/none/x.root\") { lfn } }");
        Assert.Equal("NOT_FOUND", Code(missing));
        using var invalid = await fx.Client.GraphQLAsync("{ stat(path: \"/belle/../etc\") { name } }");
        Assert.Equal("INVALID_LFN", Code(invalid));
        using var syntax = await fx.Client.GraphQLAsync("{ stat(path: ");
        Assert.True(syntax.RootElement.TryGetProperty("errors", out _));
    }

    [Fact]
    public async Task Storage_elements_and_mutations_share_the_services()
    {
        var name = $"GQL-{Guid.NewGuid():N}"[..16];
        using var put = await fx.Client.GraphQLAsync("""
            mutation($name: String!) { putStorageElement(name: $name, input: { site: "BNL", protocol: "davs", baseUrl: "davs://bnl.test/belle" }) { name writeEnabled } }
            """, new { name });
        Assert.True(put.RootElement.GetProperty("data").GetProperty("putStorageElement").GetProperty("writeEnabled").GetBoolean());
        Assert.Equal("BNL", (await fx.Client.GetStorageElementAsync(name)).Site);

        var dir = TestData.Dir("gql-mkdir");
        using var mkdir = await fx.Client.GraphQLAsync("mutation($p: String!) { makeDirectory(path: $p, parents: true) { path type } }", new { p = dir + "/a" });
        Assert.Equal("DIRECTORY", mkdir.RootElement.GetProperty("data").GetProperty("makeDirectory").GetProperty("type").GetString());
        Assert.Equal(Catalog.Contracts.EntryType.Directory, (await fx.Client.StatAsync(dir + "/a")).Type);
    }

    private static string? Code(JsonDocument doc) =>
        doc.RootElement.GetProperty("errors")[0].GetProperty("extensions").GetProperty("code").GetString();

    /// <summary>The standard introspection query (as GraphiQL and code generators send it, nested ofType chains and all).</summary>
    private const string Introspection = """
        __schema {
          queryType { name } mutationType { name } subscriptionType { name }
          types { ...FullType }
          directives { name description locations args { ...InputValue } }
        }
        """;

    private const string IntrospectionFragments = """
        fragment FullType on __Type {
          kind name description
          fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
          inputFields { ...InputValue }
          interfaces { ...TypeRef }
          enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
          possibleTypes { ...TypeRef }
        }
        fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
        fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
        """;

    [Fact]
    public async Task The_IDE_loads_the_schema_in_one_request_and_a_document_repeating_introspection_is_refused()
    {
        using var once = await fx.Client.GraphQLAsync($"query IntrospectionQuery {{ {Introspection} }} {IntrospectionFragments}");
        Assert.False(once.RootElement.TryGetProperty("errors", out _), once.RootElement.ToString());
        var types = once.RootElement.GetProperty("data").GetProperty("__schema").GetProperty("types").EnumerateArray().Select(t => t.GetProperty("name").GetString());
        Assert.Contains("Query", types);
        Assert.Contains("Mutation", types);

        var many = string.Concat(Enumerable.Range(0, 4).Select(i => $"s{i}: {Introspection} "));
        using var refused = await fx.Client.GraphQLAsync($"query {{ {many} }} {IntrospectionFragments}");
        Assert.False(refused.RootElement.TryGetProperty("data", out var data) && data.ValueKind != JsonValueKind.Null);
        Assert.Equal("COMPLEXITY", refused.RootElement.GetProperty("errors")[0].GetProperty("extensions").GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_browser_GET_of_graphql_gets_the_IDE_and_any_other_GET_is_told_to_POST()
    {
        var anonymous = fx.Factory.CreateClient();
        using var page = new HttpRequestMessage(HttpMethod.Get, "graphql");
        page.Headers.Accept.ParseAdd("text/html,application/xhtml+xml");
        using var ide = await anonymous.SendAsync(page);
        Assert.Equal(System.Net.HttpStatusCode.OK, ide.StatusCode);
        Assert.Equal("text/html", ide.Content.Headers.ContentType?.MediaType);
        var html = await ide.Content.ReadAsStringAsync();
        Assert.Contains("graphiql/lib/graphiql.min.js", html);
        // The scripts it names are served by the catalog itself (bundled from npm at build time).
        foreach (var script in new[] { "graphiql/lib/graphiql.min.js", "graphiql/lib/react.production.min.js", "graphiql/lib/react-dom.production.min.js", "graphiql/ide.js" })
        {
            using var asset = await anonymous.GetAsync(script);
            Assert.True(asset.IsSuccessStatusCode, script);
        }

        using var api = await anonymous.GetAsync("graphql");
        Assert.Equal(System.Net.HttpStatusCode.MethodNotAllowed, api.StatusCode);
        Assert.Equal("POST", api.Content.Headers.Allow.Single());
        Assert.Contains("POST a GraphQL document", await api.Content.ReadAsStringAsync());
    }
}
