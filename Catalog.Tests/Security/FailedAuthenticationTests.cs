using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Security;

/// <summary>Failed authentications are counted per address: a guessing client is slowed before its guesses cost a signature check.</summary>
[Collection(CatalogCollection.Name)]
public class FailedAuthenticationTests(CatalogFixture fx)
{
    [Fact]
    public async Task An_address_past_its_failure_budget_is_answered_429_until_the_budget_refills()
    {
        await using var server = fx.CreateFactory(new Dictionary<string, string?>
        {
            ["Catalog:Auth:RateLimit:FailedPerSecond"] = "1",
            ["Catalog:Auth:RateLimit:FailedBurst"] = "3",
        });
        async Task<HttpStatusCode> WhoAmI(string token)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "api/v1/whoami") { Headers = { Authorization = new("Bearer", token) } };
            using var response = await server.CreateClient().SendAsync(request);
            return response.StatusCode;
        }
        Assert.Equal(HttpStatusCode.OK, await WhoAmI(fx.AdminToken)); // a good token costs nothing
        var answers = new List<HttpStatusCode>();
        for (var i = 0; i < 8; i++) answers.Add(await WhoAmI("guess." + i + ".sig"));
        Assert.Contains(HttpStatusCode.Unauthorized, answers);
        Assert.Equal(HttpStatusCode.TooManyRequests, answers[^1]);
        // The budget refills at one failure a second: a good token from the address works again.
        var until = DateTime.UtcNow.AddSeconds(10);
        while (await WhoAmI(fx.AdminToken) != HttpStatusCode.OK)
        {
            Assert.True(DateTime.UtcNow < until, "the failure budget never refilled");
            await Task.Delay(200);
        }
    }
}

[Collection(CatalogCollection.Name)]
public class OperationalEndpointTests(CatalogFixture fx)
{
    [Fact]
    public async Task Metrics_are_for_identities_and_local_scrapers_and_readiness_is_probed_at_most_once_a_second()
    {
        using var anonymous = await fx.Factory.CreateClient().GetAsync("metrics"); // the test server's peer is not loopback
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Contains("catalog_", await fx.Http.GetStringAsync("metrics"));

        var before = Interlocked.Read(ref Catalog.Api.Health.HealthApi.Readiness.Runs);
        for (var i = 0; i < 50; i++) await fx.Factory.CreateClient().GetStringAsync("readyz");
        // 50 asks in a moment: a handful of probes, not 50.
        Assert.True(Interlocked.Read(ref Catalog.Api.Health.HealthApi.Readiness.Runs) - before < 25, "readiness probed the services for every request");
    }
}

[Collection(CatalogCollection.Name)]
public class ConnectionLimitTests(CatalogFixture fx)
{
    [Fact]
    public void Kestrel_limits_come_from_settings_and_idle_connections_are_closed_soon()
    {
        var limits = fx.Factory.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>>().Value.Limits;
        Assert.Equal(64L * 1024 * 1024, limits.MaxRequestBodySize);
        Assert.Equal(TimeSpan.FromSeconds(15), limits.KeepAliveTimeout);
        Assert.Equal(TimeSpan.FromSeconds(10), limits.RequestHeadersTimeout);
    }
}
