using System.Text.Json;
using Catalog.Client;
using Catalog.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Prometheus;

namespace Catalog.Modules;

/// <summary>What every module service's web host does alike: its refusals, its health endpoints.</summary>
public static class ModuleHosting
{
    /// <summary>
    /// ProblemDetails for every failure, with the error vocabulary's code and the field at fault.
    /// <paramref name="module"/> names the service's own database in the 503 it answers when that is down.
    /// </summary>
    public static WebApplication UseModuleErrors(this WebApplication app, string module)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            // A refusal (a bad definition, an unknown id) is an answer, not an error to log.
            SuppressDiagnosticsCallback = c => c.Exception is ServiceException or CatalogClientException,
            ExceptionHandler = async http =>
            {
                var e = http.Features.Get<IExceptionHandlerFeature>()?.Error;
                var (code, message, field) = e switch
                {
                    ServiceException p => (p.Code, p.Message, p.Field),
                    CatalogClientException c => (c.Code, $"the catalog refused: {c.Message}", c.Field),
                    BadHttpRequestException { InnerException: JsonException j } => (ErrorCode.InvalidArgument, $"malformed JSON at {j.Path ?? "$"}", j.Path),
                    BadHttpRequestException b => (ErrorCode.InvalidArgument, b.Message, null),
                    HttpRequestException or TimeoutException => (ErrorCode.Overloaded, "the catalog did not answer; retry later", null),
                    NpgsqlException { IsTransient: true } => (ErrorCode.Overloaded, $"the {module} database is unavailable; retry later", null),
                    _ => (ErrorCode.Internal, "internal error", null),
                };
                if (code == ErrorCode.Internal)
                    http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger($"{module}.Errors").LogError(e, "Unhandled error on {Path}", http.Request.Path);
                await Problem(code, message, field, http).ExecuteAsync(http);
            },
        });
        app.UseStatusCodePages();
        return app;
    }

    public static IResult Problem(ErrorCode code, string message, string? field, HttpContext http)
    {
        var status = code.HttpStatus();
        if (status == 503) http.Response.Headers.RetryAfter = "1";
        if (status == 401) http.Response.Headers.WWWAuthenticate = "Bearer";
        var extensions = new Dictionary<string, object?> { ["code"] = code.ToWire() };
        if (field is not null) extensions["field"] = field;
        return Results.Problem(detail: message, statusCode: status, extensions: extensions);
    }

    /// <summary>
    /// The service's OpenAPI document (/openapi/v1.json), declaring the catalog's bearer token that
    /// every operation takes, so a client generator or an API browser sends it.
    /// </summary>
    public static IServiceCollection AddModuleOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Components ??= new Microsoft.OpenApi.OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, Microsoft.OpenApi.IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["bearer"] = new Microsoft.OpenApi.OpenApiSecurityScheme
            {
                Type = Microsoft.OpenApi.SecuritySchemeType.Http, Scheme = "bearer", BearerFormat = "JWT",
                Description = "A catalog token: the catalog identifies the callers of its module services",
            };
            document.Security = [new Microsoft.OpenApi.OpenApiSecurityRequirement { [new Microsoft.OpenApi.OpenApiSecuritySchemeReference("bearer", document)] = [] }];
            return Task.CompletedTask;
        }));

    /// <summary>
    /// /healthz (the process answers), /readyz (its database answers too) and /metrics (Prometheus
    /// text: requests by route and status with their durations, the process and the runtime).
    /// </summary>
    public static WebApplication MapModuleHealth(this WebApplication app)
    {
        app.UseHttpMetrics();
        app.MapMetrics("/metrics");
        app.MapGet("/healthz", () => Results.Ok(new { status = "ok" })).ExcludeFromDescription();
        app.MapGet("/readyz", async (NpgsqlDataSource db, CancellationToken ct) =>
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            return Results.Ok(new { status = "ready" });
        }).ExcludeFromDescription();
        return app;
    }
}
