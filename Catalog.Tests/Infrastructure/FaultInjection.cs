using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Catalog.Tests.Infrastructure;

/// <summary>
/// Makes a real server answer 503 (with Retry-After) to the first N requests carrying an
/// <c>X-Fault-Key</c> header (or, with <see cref="AnyRequest"/>, to the first N requests of any
/// kind), and counts requests per key, so a test can see how many attempts the client made.
/// </summary>
public sealed class FaultInjection : IStartupFilter
{
    public const string Header = "X-Fault-Key";
    /// <summary>The key that matches every request (for clients that cannot add a header, like the CLI).</summary>
    public const string AnyRequest = "*";
    private readonly ConcurrentDictionary<string, int> _failuresLeft = new();
    private readonly ConcurrentDictionary<string, int> _seen = new();

    /// <summary>The next <paramref name="count"/> requests with <paramref name="key"/> get 503.</summary>
    public void Fail(string key, int count) => _failuresLeft[key] = count;

    public int Seen(string key) => _seen.GetValueOrDefault(key);

    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(1);

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use(async (context, nextMiddleware) =>
        {
            var key = context.Request.Headers.TryGetValue(Header, out var value) && value.ToString() is { Length: > 0 } k ? k
                : _failuresLeft.ContainsKey(AnyRequest) ? AnyRequest : null;
            if (key is not null)
            {
                _seen.AddOrUpdate(key, 1, (_, n) => n + 1);
                var left = _failuresLeft.GetValueOrDefault(key);
                if (left > 0 && _failuresLeft.TryUpdate(key, left - 1, left))
                {
                    context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                    context.Response.Headers.RetryAfter = ((int)RetryAfter.TotalSeconds).ToString();
                    await context.Response.WriteAsJsonAsync(new { title = "injected overload", status = 503, code = "OVERLOADED" });
                    return;
                }
            }
            await nextMiddleware(context);
        });
        next(app);
    };

    /// <summary>A server on the fixture's databases with this injector in front.</summary>
    public static (WebApplicationFactory<Program> Factory, FaultInjection Faults) Server(CatalogFixture fx)
    {
        var faults = new FaultInjection();
        var factory = fx.CreateFactory(new Dictionary<string, string?>())
            .WithWebHostBuilder(b => b.ConfigureServices(s => s.AddSingleton<IStartupFilter>(faults)));
        return (factory, faults);
    }
}
