using Prometheus;
using Npgsql;
using StackExchange.Redis;

namespace Catalog.Api.Health;

public static class HealthApi
{
    /// <summary><c>/healthz</c>: the process answers. <c>/readyz</c>: PostgreSQL and Redis answer too.</summary>
    public static WebApplication MapHealthApi(this WebApplication app)
    {
        app.MapGet("/healthz", () => Results.Ok(new { status = "alive" })).ExcludeFromDescription();
        // Prometheus text format: the catalog's meters (the cache's hits and misses among them) and ASP.NET Core's request meters.
        Metrics.ConfigureMeterAdapter(o =>
        {
            o.InstrumentFilterPredicate = i => i.Meter.Name.StartsWith("Catalog", StringComparison.Ordinal) || i.Meter.Name == "Microsoft.AspNetCore.Hosting";
        });
        // The adapter starts listening at the first collection: collect once now, so no count is missed.
        Metrics.DefaultRegistry.CollectAndExportAsTextAsync(Stream.Null).GetAwaiter().GetResult();
        // The metrics (about 500 kB) are for the local scraper or an identity, not for anyone who asks.
        app.Use(async (http, next) =>
        {
            if (http.Request.Path.StartsWithSegments("/metrics") && !IsLocal(http)
                && !http.RequestServices.GetRequiredService<Security.Caller>().IsAuthenticated)
                throw new Errors.CatalogException(Contracts.ErrorCode.Unauthorized, "metrics are served to local scrapers and to identities: send a token");
            await next(http);
        });
        app.MapMetrics("/metrics");
        var readiness = new Readiness(app.Services.GetRequiredService<NpgsqlDataSource>(), app.Services.GetRequiredService<IConnectionMultiplexer>());
        app.MapGet("/readyz", async () =>
        {
            var (postgres, cache) = await readiness.ProbeAsync();
            var ready = postgres is null && cache is null;
            var body = new { status = ready ? "ready" : "not ready", postgres = postgres ?? "ok", redis = cache ?? "ok" };
            return ready ? Results.Ok(body) : Results.Json(body, statusCode: 503);
        }).ExcludeFromDescription();
        // The load tool's baseline for HTTP lookups: the same pipeline (authentication, rate limit,
        // JSON) answering a constant body of the size asked for, without touching any store. Not a
        // production endpoint: it exists only when the server is started with Catalog:Bench:Enabled,
        // and answers slices of one fixed 64 kB buffer, so it holds no memory per size asked for.
        if (app.Configuration.GetValue("Catalog:Bench:Enabled", false))
            app.MapGet("/api/v1/bench/constant", async (int? bytes, Security.Caller caller, HttpContext http) =>
            {
                if (!caller.IsAuthenticated) throw new Errors.CatalogException(Contracts.ErrorCode.Unauthorized, "authentication required");
                var size = Math.Clamp(bytes ?? 256, 16, ConstantBody.Length);
                http.Response.ContentType = "application/json";
                http.Response.ContentLength = size;
                await http.Response.BodyWriter.WriteAsync(ConstantBody.AsMemory(0, size - 2));
                await http.Response.BodyWriter.WriteAsync(ConstantEnd);
            }).ExcludeFromDescription();
        return app;
    }

    /// <summary><c>{"pad":"xxx…</c>: any prefix of it longer than 9 bytes, closed by <see cref="ConstantEnd"/>, is a JSON object.</summary>
    private static readonly byte[] ConstantBody = [.. "{\"pad\":\""u8, .. Enumerable.Repeat((byte)'x', (1 << 16) - 8)];
    private static readonly byte[] ConstantEnd = "\"}"u8.ToArray();

    private static bool IsLocal(HttpContext http) => http.Connection.RemoteIpAddress is { } remote && System.Net.IPAddress.IsLoopback(remote);

    /// <summary>
    /// The readiness probe, run at most once a second whoever asks: anyone may ask (load balancers
    /// do), so a flood of /readyz costs two round trips a second, not two per request.
    /// </summary>
    internal sealed class Readiness(NpgsqlDataSource dataSource, IConnectionMultiplexer redis)
    {
        private Task<(string? Postgres, string? Redis)>? last;
        private long lastAt;

        public Task<(string? Postgres, string? Redis)> ProbeAsync()
        {
            var current = last;
            if (current is not null && Environment.TickCount64 - Interlocked.Read(ref lastAt) < 1000) return current;
            var fresh = RunAsync();
            Interlocked.Exchange(ref last, fresh);
            Interlocked.Exchange(ref lastAt, Environment.TickCount64);
            return fresh;
        }

        /// <summary>Probes run since start (for tests).</summary>
        internal static long Runs;

        private async Task<(string?, string?)> RunAsync()
        {
            Interlocked.Increment(ref Runs);
            var postgres = await HealthApi.ProbeAsync(async () =>
            {
                await using var cmd = dataSource.CreateCommand("select 1");
                await cmd.ExecuteScalarAsync();
            });
            return (postgres, await HealthApi.ProbeAsync(() => redis.GetDatabase().PingAsync()));
        }
    }

    private static async Task<string?> ProbeAsync(Func<Task> probe)
    {
        try
        {
            await probe().WaitAsync(TimeSpan.FromSeconds(3));
            return null;
        }
        catch (Exception e)
        {
            return e.GetType().Name + ": " + e.Message;
        }
    }
}
