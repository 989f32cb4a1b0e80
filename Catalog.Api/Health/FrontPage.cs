using System.Net;
using System.Reflection;
using Catalog.Api.Hosting;
using Catalog.Storage;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace Catalog.Api.Health;

/// <summary>
/// The catalog's root page: what this server is (its version), whether its database and cache
/// answer, its size and SEs at a glance, and where to go next (the API reference, GraphQL, the
/// monitoring dashboard when Catalog:MonitorUrl names it).
/// </summary>
public static class FrontPage
{
    public static WebApplication MapFrontPage(this WebApplication app)
    {
        var monitor = app.Configuration["Catalog:MonitorUrl"];
        var glance = new Glance(app.Services.GetRequiredService<NpgsqlDataSource>(), app.Services.GetRequiredService<IConnectionMultiplexer>(),
            app.Services.GetRequiredService<IOptions<CatalogOptions>>().Value.Roots);
        var version = typeof(FrontPage).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
        app.MapGet("/", async () =>
        {
            var g = await glance.GetAsync();
            var ses = g.Ses.Count == 0 ? "<p>No storage element is registered yet.</p>" :
                "<table><tr><th>SE</th><th>site</th><th>state</th><th>writes</th><th class=n>replicas</th><th class=n>bytes</th></tr>" +
                string.Concat(g.Ses.Select(s => $"<tr><td>{E(s.Name)}</td><td>{E(s.Site)}</td><td>{E(Contracts.CatalogJson.Name((Contracts.StorageElementState)s.State))}</td>" +
                    $"<td>{(s.WriteEnabled ? "open" : "closed")}</td><td class=n>{s.Files:N0}</td><td class=n>{s.Bytes:N0}</td></tr>")) + "</table>";
            var html = $$"""
                <!doctype html>
                <html lang="en"><head><meta charset="utf-8"><title>Belle II file catalog</title>
                <style>body{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .2em}
                li{margin:.3rem 0}table{border-collapse:collapse}td,th{padding:.2rem .6rem;border-bottom:1px solid #eee;text-align:left}.n{text-align:right}
                .ok{color:#2e7d32}.bad{color:#c62828}</style>
                </head><body>
                <h1>Belle II file, replica and metadata catalog</h1>
                <p>Version {{E(version)}}. Database: <span id="postgres" class="{{(g.Postgres is null ? "ok" : "bad")}}">{{E(g.Postgres ?? "answers")}}</span>;
                cache: <span id="redis" class="{{(g.Redis ? "ok" : "bad")}}">{{(g.Redis ? "connected" : "not connected (reads go to the database)")}}</span>.</p>
                <p id="size">{{g.Files:N0}} files, {{g.Bytes:N0}} bytes under {{E(string.Join(", ", g.Roots))}} (as of {{g.At:HH:mm:ss}} UTC).</p>
                <ul>
                {{(string.IsNullOrEmpty(monitor) ? "" : $"<li><a id=\"monitor\" href=\"{E(monitor)}\">Monitoring dashboard</a>: what is wrong now, SE status, jobs, registrations, transfers</li>")}}
                <li><a href="scalar/v1">REST API reference</a> (OpenAPI: <a href="openapi/v1.json">openapi/v1.json</a>), under <code>/api/v1</code></li>
                <li><a href="graphql">GraphQL</a> at <code>/graphql</code></li>
                <li>Health: <a href="healthz">/healthz</a>, <a href="readyz">/readyz</a>; Prometheus metrics at <code>/metrics</code></li>
                </ul>
                <h2>Storage elements</h2>
                {{ses}}
                <p>From a shell: <code>./catalog --help</code> (it uses this server and the token of the checkout's <code>./run.sh</code>).</p>
                </body></html>
                """;
            return Results.Content(html, "text/html; charset=utf-8");
        }).ExcludeFromDescription();
        return app;
    }

    private static string E(string? s) => WebUtility.HtmlEncode(s ?? "");

    private sealed record Snapshot(DateTime At, string? Postgres, bool Redis, long Files, long Bytes, IReadOnlyList<string> Roots, IReadOnlyList<StorageElementRow> Ses);

    /// <summary>
    /// The page's figures, read at most every 30 s whoever asks (anyone may open the page: a flood of
    /// it costs one usage sum per 30 s, not one per request).
    /// </summary>
    private sealed class Glance(NpgsqlDataSource db, IConnectionMultiplexer redis, IReadOnlyList<string> roots)
    {
        private readonly SemaphoreSlim gate = new(1, 1);
        private Snapshot? last;

        public async Task<Snapshot> GetAsync()
        {
            if (last is { } fresh && DateTime.UtcNow - fresh.At < TimeSpan.FromSeconds(30)) return fresh;
            await gate.WaitAsync();
            try
            {
                if (last is { } again && DateTime.UtcNow - again.At < TimeSpan.FromSeconds(30)) return again;
                var paths = roots.Count > 0 ? roots : ["/belle"];
                try
                {
                    await using var conn = await db.OpenConnectionAsync();
                    // The totals of the whole catalog, like df: no entry, name or subtree of anyone's is shown.
                    long files = 0, bytes = 0;
                    foreach (var root in paths)
                        foreach (var u in (await DirectoryStore.UsageAsync(conn, root, viewer: null, CancellationToken.None)).Usage.Where(u => u.SeId == 0))
                            (files, bytes) = (files + u.Files, bytes + u.Bytes);
                    var ses = await StorageElementStore.ListAsync(conn, null, CancellationToken.None);
                    last = new Snapshot(DateTime.UtcNow, null, redis.IsConnected, files, bytes, paths, ses);
                }
                catch (NpgsqlException e)
                {
                    // Not cached: the next visit asks again.
                    return new Snapshot(DateTime.UtcNow, $"does not answer ({e.Message})", redis.IsConnected, 0, 0, paths, []);
                }
                return last;
            }
            finally { gate.Release(); }
        }
    }
}
