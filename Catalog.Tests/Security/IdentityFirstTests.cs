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
