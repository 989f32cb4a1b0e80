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
            // Depth and cost are checked before anything runs; introspection is priced by CatalogSchema.IntrospectionImpact.
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
        var limits = app.Configuration.GetSection("Catalog:GraphQL");
        var maxLength = limits.GetValue("MaxDocumentLength", 32 * 1024);
        var maxTokens = limits.GetValue("MaxTokens", 4_000);
        var publicReads = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<AuthOptions>>().Value.PublicReadRoots.Count > 0;
        app.MapPost("/graphql", async (HttpContext http, IDocumentExecuter<ISchema> executer, IGraphQLTextSerializer serializer) =>
        {
            var request = await serializer.ReadAsync<GraphQLRequest>(http.Request.Body, http.RequestAborted);
            if (request?.Query is not { Length: > 0 } query)
                throw CatalogException.Invalid("query", "is required");
            // Bounded before parsing: parsing and validation grow with the document (30,000
            // __typename fields, 330 kB, took 26 s of CPU before the cost check refused it).
            if (query.Length > maxLength)
                throw new CatalogException(ErrorCode.LimitExceeded, $"query: at most {maxLength} characters (Catalog:GraphQL:MaxDocumentLength), got {query.Length}", "query");
            if (CountTokens(query, maxTokens) > maxTokens)
                throw new CatalogException(ErrorCode.LimitExceeded, $"query: at most {maxTokens} tokens (Catalog:GraphQL:MaxTokens)", "query");
            // Nobody may run data operations where nothing is public: refused before the document is parsed.
            if (!publicReads && !http.RequestServices.GetRequiredService<Caller>().IsAuthenticated)
                throw new CatalogException(ErrorCode.Unauthorized, "send a token (Authorization: Bearer <token>) or a client certificate");
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
        // A browser's GET gets the IDE (GraphiQL, served from wwwroot/graphiql, no internet needed);
        // anything else is told how to ask.
        var ide = ReadIde();
        app.MapGet("/graphql", (HttpContext http) =>
        {
            if (http.Request.Headers.Accept.Any(a => a?.Contains("text/html", StringComparison.OrdinalIgnoreCase) == true))
                return Results.Content(ide, "text/html; charset=utf-8");
            http.Response.Headers.Allow = "POST";
            return Results.Problem(statusCode: 405, title: "Method not allowed",
                detail: "POST a GraphQL document as JSON ({\"query\": \"...\"}) to /graphql; a browser opening /graphql gets the GraphQL IDE");
        })
            .ExcludeFromDescription();
        return app;
    }

    private static string ReadIde()
    {
        using var stream = typeof(GraphQLEndpoint).Assembly.GetManifestResourceStream("graphql-ide.html")
            ?? throw new InvalidOperationException("the GraphQL IDE page is not embedded in the build");
        return new StreamReader(stream).ReadToEnd();
    }

    /// <summary>
    /// Tokens of a GraphQL document (names, numbers, strings, punctuators; comments and
    /// whitespace skipped), counted up to <paramref name="stop"/> + 1: a linear pass that bounds the
    /// parser's and the validator's work before either runs.
    /// </summary>
    internal static int CountTokens(string text, int stop)
    {
        var count = 0;
        for (var i = 0; i < text.Length && count <= stop; )
        {
            var c = text[i];
            if (char.IsWhiteSpace(c) || c == ',') { i++; continue; }
            if (c == '#') { while (i < text.Length && text[i] is not ('\n' or '\r')) i++; continue; }
            count++;
            if (c == '"')
            {
                for (i++; i < text.Length && text[i] != '"'; i++) if (text[i] == '\\') i++;
                i++;
            }
            else if (char.IsAsciiLetterOrDigit(c) || c is '_' or '-')
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] is '_' or '.' or '-' or '+')) i++;
            else i++;
        }
        return count;
    }

    /// <summary>
    /// Turns service errors into GraphQL errors carrying the same code REST sends. A mutation
    /// refused for who is asking (401/403) is audited as denied, as a refused REST write is.
    /// </summary>
    private static async Task MapError(UnhandledExceptionContext context)
    {
        var error = ErrorMapping.Classify(context.OriginalException);
        var graphError = new ExecutionError(error.Message) { Code = error.Code.ToWire() };
        if (error.Field is not null) graphError.Data["field"] = error.Field;
        context.Exception = graphError;
        context.ErrorMessage = error.Message;
        if (error.Code is ErrorCode.Forbidden or ErrorCode.Unauthorized
            && context.FieldContext is { ParentType.Name: "Mutation", RequestServices: { } services } field)
            await services.GetRequiredService<Audit.AuditLog>().RecordAsync(services.GetRequiredService<Caller>(),
                $"graphql {field.FieldDefinition.Name}", null, "denied", new() { ["code"] = error.Code.ToWire(), ["reason"] = error.Message });
    }
}
