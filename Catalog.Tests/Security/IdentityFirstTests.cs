using System.Net;
using System.Net.Http.Json;
using System.Text;
using Catalog.Api.Security;
using Catalog.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Catalog.Tests.Security;

/// <summary>Identity first at every write door: anonymous writes are 401 whatever their body, and leave nothing behind.</summary>
[Collection(CatalogCollection.Name)]
public class IdentityFirstTests(CatalogFixture fx)
{
    [Fact]
    public async Task Every_write_endpoint_answers_an_anonymous_request_401_before_looking_at_its_body()
    {
        var writes = fx.Factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? []).Select(m => (Method: m, Endpoint: e)))
            .Where(x => IdentityFirst.IsWrite(x.Method, x.Endpoint))
            .ToList();
        Assert.True(writes.Count >= 19, $"only {writes.Count} write endpoints found");
        var anonymous = fx.Factory.CreateClient();
        var bodies = new[] { "{}", """{"files":[{"lfn":"/belle/t/x\u0000y","size":1,"adler32":"00000001"}]}""", "not json" };
        foreach (var (method, endpoint) in writes)
        {
            var path = "/" + string.Join('/', endpoint.RoutePattern.PathSegments.Select(s => string.Concat(s.Parts.Select(p => p switch
            {
                Microsoft.AspNetCore.Routing.Patterns.RoutePatternLiteralPart l => l.Content,
                Microsoft.AspNetCore.Routing.Patterns.RoutePatternParameterPart { Name: "id" } => Guid.NewGuid().ToString(),
                _ => "X",
            }))));
            foreach (var body in bodies)
            {
                using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                using var response = await anonymous.SendAsync(request);
                Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{method} {path} with {body}: {(int)response.StatusCode}");
                Assert.Contains("UNAUTHORIZED", await response.Content.ReadAsStringAsync());
            }
        }
    }

    [Fact]
    public async Task An_anonymous_registration_stores_nothing()
    {
        var dir = TestData.Dir("anon");
        var se = await fx.NewStorageElementAsync();
        using var response = await fx.Factory.CreateClient().PostAsJsonAsync("api/v1/files",
            new Catalog.Contracts.RegisterRequest([TestData.File($"{dir}/f.root", se)]), Catalog.Contracts.CatalogJson.Options);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        await Assert.ThrowsAsync<Catalog.Client.CatalogNotFoundException>(() => fx.Client.StatAsync(dir));
    }
}

[Collection(CatalogCollection.Name)]
public class GraphQLBudgetTests(CatalogFixture fx)
{
    [Fact]
    public async Task Anonymous_GraphQL_is_refused_before_parsing_where_nothing_is_public()
    {
        using var response = await fx.Factory.CreateClient().PostAsJsonAsync("graphql", new { query = "{ this is not even GraphQL" });
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("UNAUTHORIZED", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Registrations_of_one_document_share_one_batch_limit()
    {
        await using var server = fx.CreateFactory(new Dictionary<string, string?> { ["Catalog:MaxBatchSize"] = "10" });
        var http = server.CreateClient();
        http.DefaultRequestHeaders.Authorization = new("Bearer", fx.AdminToken);
        var client = new Catalog.Client.CatalogClient(http);
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("gql-budget");
        var files = (int from) => Enumerable.Range(from, 6).Select(i => new { lfn = $"{dir}/f{i}.root", size = 1, adler32 = "00000001", replicas = new[] { new { se } } }).ToArray();
        using var answer = await client.GraphQLAsync("""
            mutation($a: [NewFileInput!]!, $b: [NewFileInput!]!) { a: registerFiles(files: $a) { created } b: registerFiles(files: $b) { created } }
            """, new { a = files(0), b = files(6) });
        // Mutation fields run in order: the first one's six files are stored, the second is refused whole.
        Assert.Equal("f0.root", (await fx.Client.StatAsync($"{dir}/f0.root")).Name);
        var error = answer.RootElement.GetProperty("errors")[0];
        Assert.Equal("LIMIT_EXCEEDED", error.GetProperty("extensions").GetProperty("code").GetString());
        await Assert.ThrowsAsync<Catalog.Client.CatalogNotFoundException>(() => fx.Client.StatAsync($"{dir}/f6.root"));
    }
}
