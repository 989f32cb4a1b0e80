using System.Net;

namespace Catalog.Api.Health;

/// <summary>The catalog's root page: where a person who opens the server's address goes next.</summary>
public static class FrontPage
{
    public static WebApplication MapFrontPage(this WebApplication app)
    {
        // Catalog:MonitorUrl (./run.sh sets it) links the monitor's dashboard.
        var monitor = app.Configuration["Catalog:MonitorUrl"];
        var html = $$"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>Belle II file catalog</title>
            <style>body{font:15px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .2em}li{margin:.3rem 0}</style>
            </head><body>
            <h1>Belle II file, replica and metadata catalog</h1>
            <ul>
            {{(string.IsNullOrEmpty(monitor) ? "" : $"<li><a id=\"monitor\" href=\"{WebUtility.HtmlEncode(monitor)}\">Monitoring dashboard</a>: what is wrong now, SE status, jobs, registrations, transfers</li>")}}
            <li><a href="scalar/v1">REST API reference</a> (OpenAPI: <a href="openapi/v1.json">openapi/v1.json</a>), under <code>/api/v1</code></li>
            <li><a href="graphql">GraphQL</a> at <code>/graphql</code></li>
            <li>Health: <a href="healthz">/healthz</a>, <a href="readyz">/readyz</a>; Prometheus metrics at <code>/metrics</code></li>
            </ul>
            <p>From a shell: <code>./catalog --help</code> (it uses this server and the token of the checkout's <code>./run.sh</code>).</p>
            </body></html>
            """;
        app.MapGet("/", () => Results.Content(html, "text/html; charset=utf-8")).ExcludeFromDescription();
        return app;
    }
}
