using System.Text.Json;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Production.Batch;
using Catalog.Production.Productions;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Catalog.Production.Hosting;

public static class ProductionHosting
{
    /// <summary>Options, the production database, the catalog client, the stores, services and workers.</summary>
    public static WebApplicationBuilder AddProduction(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<ProductionOptions>().BindConfiguration(ProductionOptions.Section)
            .Validate(o => o.SliceSize is > 0 and <= 1000, "Production:SliceSize must be 1-1000 (Slurm's MaxArraySize)")
            .Validate(o => o.SiteCap > 0, "Production:SiteCap must be positive")
            .ValidateOnStart();
        builder.Services.ConfigureHttpJsonOptions(o => CatalogJson.Configure(o.SerializerOptions));
        var connection = builder.Configuration.GetConnectionString("Production")
            ?? throw new InvalidOperationException("ConnectionStrings:Production is required (the production service's own database)");
        builder.Services.AddSingleton(_ => new NpgsqlDataSourceBuilder(connection) { Name = "production" }.Build());
        builder.Services.AddSingleton<ProductionMigrator>();
        builder.Services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<ProductionOptions>>().Value;
            return CatalogClient.Create(new CatalogClientOptions { BaseAddress = o.CatalogUrl, Token = o.ResolveCatalogToken(), MaxRetries = 3 });
        });
        builder.Services.AddSingleton<Faults>();
        builder.Services.AddSingleton<Slurm>();
        builder.Services.AddSingleton<CallerIdentity>();
        builder.Services.AddSingleton<ProductionService>();
        builder.Services.AddSingleton<DefinitionCheck>();
        builder.Services.AddSingleton<Recovery>();
        builder.Services.AddSingleton<Submitter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Submitter>());
        builder.Services.AddHostedService<Watcher>();
        builder.Services.AddOpenApi();
        return builder;
    }

    /// <summary>ProblemDetails for every failure, with the error vocabulary's code and the field at fault.</summary>
    public static WebApplication UseProductionErrors(this WebApplication app)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            // A refusal (a bad definition, an unknown production) is an answer, not an error to log.
            SuppressDiagnosticsCallback = c => c.Exception is ProductionException or CatalogClientException,
            ExceptionHandler = async http =>
        {
            var e = http.Features.Get<IExceptionHandlerFeature>()?.Error;
            var (code, message, field) = e switch
            {
                ProductionException p => (p.Code, p.Message, p.Field),
                CatalogClientException c => (c.Code, $"the catalog refused: {c.Message}", c.Field),
                BadHttpRequestException { InnerException: JsonException j } => (ErrorCode.InvalidArgument, $"malformed JSON at {j.Path ?? "$"}", j.Path),
                BadHttpRequestException b => (ErrorCode.InvalidArgument, b.Message, null),
                HttpRequestException or TimeoutException => (ErrorCode.Overloaded, "the catalog did not answer; retry later", null),
                NpgsqlException { IsTransient: true } => (ErrorCode.Overloaded, "the production database is unavailable; retry later", null),
                _ => (ErrorCode.Internal, "internal error", null),
            };
            if (code == ErrorCode.Internal)
                http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Production.Errors").LogError(e, "Unhandled error on {Path}", http.Request.Path);
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

    public static IEndpointRouteBuilder MapProductionHealth(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => Results.Ok(new { status = "ok" })).ExcludeFromDescription();
        app.MapGet("/readyz", async (NpgsqlDataSource db, CancellationToken ct) =>
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            return Results.Ok(new { status = "ready" });
        }).ExcludeFromDescription();
        return app;
    }
}
