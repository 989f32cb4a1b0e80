using System.Text.Json;
using Catalog.Contracts;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace Catalog.Api.Errors;

/// <summary>The single place where failures become HTTP answers.</summary>
public static class ErrorMapping
{
    public const int RetryAfterSeconds = 1;

    /// <summary>Classifies any exception into the error vocabulary.</summary>
    public static ItemError Classify(Exception exception) => exception switch
    {
        CatalogException c => c.ToItemError(),
        BadHttpRequestException { InnerException: JsonException json } => Json(json),
        BadHttpRequestException bad when bad.StatusCode == 413 =>
            new ItemError(ErrorCode.LimitExceeded, $"{bad.Message.TrimEnd('.')} (Kestrel:Limits:MaxRequestBodySize)"),
        BadHttpRequestException bad when Binding(bad.Message) is { } binding => binding,
        BadHttpRequestException bad => new ItemError(ErrorCode.InvalidArgument, bad.Message),
        JsonException json => Json(json),
        _ when IsSlowStatement(exception) => new ItemError(ErrorCode.Overloaded, "the database did not answer in time (command timeout); retry after the advertised delay"),
        _ when IsOverload(exception) => new ItemError(ErrorCode.Overloaded, "the catalog is at capacity; retry after the advertised delay"),
        _ => new ItemError(ErrorCode.Internal, "internal error"),
    };

    /// <summary>
    /// Pool exhaustion, an unreachable or restarting database and every other failure of the moment
    /// are back-pressure, not bugs: 503 and Retry-After, so a client retries instead of failing (a
    /// PostgreSQL restart during a storm answered 500 to the 42 registrations whose connection it
    /// cut; nothing was lost, but jobs would have failed). Npgsql reports an exhausted pool as an
    /// NpgsqlException wrapping a TimeoutException, and marks transient errors itself.
    /// </summary>
    /// <summary>
    /// A statement that ran past its command timeout (Npgsql's read timed out), as opposed to a
    /// connection the pool could not hand out: both are 503, but only this one is a slow statement
    /// an operator should look at (it is logged), and "at capacity" would send them the wrong way.
    /// </summary>
    public static bool IsSlowStatement(Exception e) =>
        e is NpgsqlException { InnerException: TimeoutException } && !e.Message.Contains("pool", StringComparison.OrdinalIgnoreCase);

    public static bool IsOverload(Exception e) => e switch
    {
        NpgsqlException { InnerException: TimeoutException } => true,
        PostgresException { SqlState: PostgresErrorCodes.TooManyConnections or PostgresErrorCodes.CannotConnectNow
            or PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown
            or PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected } => true,
        NpgsqlException { IsTransient: true } => true,
        NpgsqlException { InnerException: System.Net.Sockets.SocketException or IOException or EndOfStreamException } => true,
        _ => false,
    };

    /// <param name="statusOverride">A status the server itself decided (413 for a body over Kestrel's limit).</param>
    public static IResult Problem(ItemError error, HttpContext? http = null, int? statusOverride = null)
    {
        var status = statusOverride ?? error.Code.HttpStatus();
        if (status == 503 && http is not null)
            http.Response.Headers.RetryAfter = RetryAfterSeconds.ToString();
        if (status == 401 && http is not null && http.Response.Headers.WWWAuthenticate.Count == 0)
            http.Response.Headers.WWWAuthenticate = "Bearer";
        var extensions = new Dictionary<string, object?> { ["code"] = error.Code.ToWire() };
        if (error.Field is not null) extensions["field"] = error.Field;
        return Results.Problem(detail: error.Message, statusCode: status, title: TitleOf(status), extensions: extensions);
    }

    public static WebApplication UseCatalogErrors(this WebApplication app)
    {
        app.UseExceptionHandler(handler => handler.Run(async http =>
        {
            var exception = http.Features.Get<IExceptionHandlerFeature>()?.Error;
            var error = exception switch
            {
                null => new ItemError(ErrorCode.Internal, "internal error"),
                BadHttpRequestException { StatusCode: 415 } => new ItemError(ErrorCode.InvalidArgument, ContentTypeMessage(http.Request.ContentType), "Content-Type"),
                _ => Classify(exception),
            };
            if (error.Code == ErrorCode.Internal)
                http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Catalog.Errors")
                    .LogError(exception, "Unhandled error on {Path}", http.Request.Path);
            else if (exception is not null && IsSlowStatement(exception))
                http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Catalog.Errors")
                    .LogWarning(exception, "A statement ran past the command timeout on {Method} {Path}", http.Request.Method, http.Request.Path);
            // A refused write is worth knowing about too: who tried what, from where.
            if (error.Code is ErrorCode.Forbidden or ErrorCode.Unauthorized && !HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method))
                await http.RequestServices.GetRequiredService<Audit.AuditLog>().RecordAsync(http.RequestServices.GetRequiredService<Security.Caller>(),
                    $"{http.Request.Method} {http.Request.Path}", null, "denied", new() { ["code"] = error.Code.ToWire(), ["reason"] = error.Message });
            await Problem(error, http, exception is BadHttpRequestException { StatusCode: 413 or 415 } bad ? bad.StatusCode : null).ExecuteAsync(http);
        }));
        // Empty-bodied 4xx answers (404 for an unknown route, 405, a body over Kestrel's limit) get a ProblemDetails body too.
        app.UseStatusCodePages(async context =>
        {
            var http = context.HttpContext;
            if (http.Response.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                var limit = http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
                await Results.Problem(detail: $"the request body is larger than {(limit is null ? "the limit" : $"{limit} bytes")} (Kestrel:Limits:MaxRequestBodySize)",
                    statusCode: 413, title: TitleOf(413),
                    extensions: new Dictionary<string, object?> { ["code"] = ErrorCode.LimitExceeded.ToWire() }).ExecuteAsync(http);
                return;
            }
            // The framework answers these with no words; say what to send instead.
            var request = http.Request;
            var (detail, code, field) = http.Response.StatusCode switch
            {
                415 => (ContentTypeMessage(request.ContentType), ErrorCode.InvalidArgument, "Content-Type"),
                405 => ($"{request.Method} is not an operation of {request.Path}; the API reference at /scalar/v1 lists what is", ErrorCode.InvalidArgument, null),
                404 => ($"no endpoint {request.Method} {request.Path}: the REST API is under /api/v1 (the API reference at /scalar/v1 lists it), GraphQL at /graphql",
                    ErrorCode.NotFound, null),
                _ => ((string?)null, (ErrorCode?)null, (string?)null),
            };
            var extensions = new Dictionary<string, object?>();
            if (code is { } c) extensions["code"] = c.ToWire();
            if (field is not null) extensions["field"] = field;
            await Results.Problem(detail: detail, statusCode: http.Response.StatusCode, title: TitleOf(http.Response.StatusCode), extensions: extensions).ExecuteAsync(http);
        });
        return app;
    }

    /// <summary>
    /// A query-string or route value of the wrong kind, said without .NET's type names: the
    /// framework's "Failed to bind parameter "Nullable&lt;int&gt; limit" from "abc"" becomes
    /// "limit: 'abc' is not a whole number".
    /// </summary>
    internal static ItemError? Binding(string message)
    {
        // A POST or PUT that needs a JSON body and came without one.
        if (message.StartsWith("Implicit body inferred for parameter", StringComparison.Ordinal)
            || (message.StartsWith("Required parameter", StringComparison.Ordinal) && message.Contains("from body", StringComparison.Ordinal)))
            return new ItemError(ErrorCode.InvalidArgument, "the request has no body: send a JSON object (the API reference at /scalar/v1 shows its fields)");
        var m = System.Text.RegularExpressions.Regex.Match(message, "^Failed to bind parameter \"(?:Nullable<)?([A-Za-z0-9_.]+)>? ([A-Za-z0-9_]+)\" from \"(.*)\"\\.?$");
        if (!m.Success) return null;
        var (type, name, value) = (m.Groups[1].Value, m.Groups[2].Value, m.Groups[3].Value);
        var expected = type switch
        {
            "int" or "long" or "short" or "Int32" or "Int64" => "a whole number",
            "double" or "decimal" or "float" or "Double" or "Decimal" => "a number",
            "bool" or "Boolean" => "true or false",
            "DateTimeOffset" or "DateTime" => "a time (ISO 8601, e.g. 2026-11-01 or 2026-11-01T08:00:00Z)",
            "Guid" => "a GUID",
            _ => $"a valid {name}",
        };
        return new ItemError(ErrorCode.InvalidArgument, $"{name}: '{value}' is not {expected}", name);
    }

    private static string ContentTypeMessage(string? sent) =>
        $"send Content-Type: application/json (this request's was {(string.IsNullOrEmpty(sent) ? "missing" : $"'{sent}'")})";

    internal static string TitleOf(int status) => status switch
    {
        400 => "Bad request", 401 => "Unauthorized", 403 => "Forbidden", 404 => "Not found",
        405 => "Method not allowed", 409 => "Conflict", 413 => "Too large", 415 => "Unsupported media type", 422 => "Unprocessable", 429 => "Too many requests", 503 => "Overloaded", _ => "Error",
    };

    /// <summary>
    /// A request body the JSON reader refused, in plain words with the field it stopped at: an
    /// unknown field by name, a value of the wrong kind by what was expected, never a .NET type name.
    /// </summary>
    public static ItemError Json(JsonException json)
    {
        var path = json.Path ?? "$";
        var field = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path == "$" ? null : path;
        var unknown = System.Text.RegularExpressions.Regex.Match(json.Message, "The JSON property '([^']*)' could not be mapped");
        if (unknown.Success)
        {
            var name = unknown.Groups[1].Value;
            var at = field is null ? name : field.EndsWith(name, StringComparison.Ordinal) ? field : $"{field}.{name}";
            return new ItemError(ErrorCode.InvalidArgument, $"{at}: unknown field '{name}' (check its spelling)", at);
        }
        if (json.Message.Contains("could not be converted to", StringComparison.Ordinal))
            return new ItemError(ErrorCode.InvalidArgument, $"{field ?? "the body"}: expected {ExpectedAt(field)}", field);
        return new ItemError(ErrorCode.InvalidArgument, $"malformed JSON at {path}: {FirstSentence(json.Message)}", field);
    }

    /// <summary>
    /// What the field at a JSON path holds, in wire words, from the contracts' own property of that
    /// name (the reader's message names the record being built, not the field's type).
    /// </summary>
    private static string ExpectedAt(string? field)
    {
        var name = field is null ? null : System.Text.RegularExpressions.Regex.Replace(field, @"\[\d+\]$", "").Split('.')[^1];
        return name is not null && WireKinds.Value.TryGetValue(name, out var kind) ? kind : "a value of another kind";
    }

    private static readonly Lazy<Dictionary<string, string>> WireKinds = new(() =>
        typeof(ErrorCode).Assembly.GetExportedTypes().SelectMany(t => t.GetProperties())
            .GroupBy(p => System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(p.Name))
            // A name used with several types (rare) reads as its most common one.
            .ToDictionary(g => g.Key, g => g.GroupBy(p => Kind(p.PropertyType)).OrderByDescending(k => k.Count()).First().Key, StringComparer.Ordinal));

    private static string Kind(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type == typeof(string) ? "a string"
            : type == typeof(bool) ? "true or false"
            : type == typeof(Guid) ? "a UUID in a string"
            : type == typeof(DateTimeOffset) || type == typeof(DateTime) ? "an ISO-8601 time in a string"
            : type.IsEnum ? "one of " + string.Join(", ", Enum.GetNames(type).Select(n => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(n)))
            : type.IsPrimitive || type == typeof(decimal) ? "a number"
            : typeof(System.Collections.IEnumerable).IsAssignableFrom(type) && !typeof(System.Text.Json.Nodes.JsonObject).IsAssignableFrom(type) ? "a list"
            : "an object";
    }

    private static string FirstSentence(string message)
    {
        var end = message.IndexOf(". ", StringComparison.Ordinal);
        return end > 0 ? message[..end] : message;
    }
}
