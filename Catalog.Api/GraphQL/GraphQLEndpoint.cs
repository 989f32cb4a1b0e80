using Catalog.Api.Errors;
using Catalog.Api.Security;
using Catalog.Contracts;
using GraphQL;
using GraphQL.Execution;
using GraphQL.Transport;
using GraphQL.Types;

namespace Catalog.Api.GraphQL;

public static class GraphQLEndpoint
{
    public static IHostApplicationBuilder AddCatalogGraphQL(this IHostApplicationBuilder builder)
    {
        var limits = builder.Configuration.GetSection("Catalog:GraphQL");
        var maxDepth = limits.GetValue("MaxDepth", 15);
        var maxComplexity = limits.GetValue("MaxComplexity", 20_000);
        builder.Services.AddGraphQL(b => b
            .AddSchema<CatalogSchema>()
            .AddGraphTypes(typeof(CatalogSchema).Assembly)
            .AddSystemTextJson()
            .AddUnhandledExceptionHandler(MapError)
            // Depth and cost are checked before anything runs; introspection counts like any query.
            .AddComplexityAnalyzer(o =>
            {
                o.MaxDepth = maxDepth;
                o.MaxComplexity = maxComplexity;
            }));
        builder.Services.AddScoped<ReplicaBatch>();
        return builder;
    }

    /// <summary>POST /graphql, wired by hand (GraphQL.Server is not on this machine's mirror).</summary>
    public static WebApplication MapGraphQL(this WebApplication app)
    {
        app.MapPost("/graphql", async (HttpContext http, IDocumentExecuter<ISchema> executer, IGraphQLTextSerializer serializer) =>
        {
            var request = await serializer.ReadAsync<GraphQLRequest>(http.Request.Body, http.RequestAborted);
            if (request?.Query is not { Length: > 0 })
                throw CatalogException.Invalid("query", "is required");
            var result = await executer.ExecuteAsync(new ExecutionOptions
            {
                Query = request.Query,
                Variables = request.Variables,
                OperationName = request.OperationName,
                Extensions = request.Extensions,
                RequestServices = http.RequestServices,
                CancellationToken = http.RequestAborted,
            });
            // Refused outright (no data at all, every error the same refusal): the HTTP status says so too,
            // so both doors answer 401/403 alike. Partial answers stay 200 with per-field errors.
            if (result.Data is null && result.Errors is { Count: > 0 } errors
                && errors.Select(e => e.Code).Distinct().SingleOrDefault() is { } only
                && ErrorCodes.FromWire(only).HttpStatus() is (401 or 403 or 429) and var status)
                http.Response.StatusCode = status;
            http.Response.ContentType = "application/json";
            await serializer.WriteAsync(http.Response.Body, result, http.RequestAborted);
        }).ExcludeFromDescription().ReadOnly();
        return app;
    }

    /// <summary>Turns service errors into GraphQL errors carrying the same code REST sends.</summary>
    private static void MapError(UnhandledExceptionContext context)
    {
        var error = ErrorMapping.Classify(context.OriginalException);
        var graphError = new ExecutionError(error.Message) { Code = error.Code.ToWire() };
        if (error.Field is not null) graphError.Data["field"] = error.Field;
        context.Exception = graphError;
        context.ErrorMessage = error.Message;
    }
}
