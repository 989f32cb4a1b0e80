using Microsoft.Extensions.Options;

namespace Catalog.Api.Http;

/// <summary>
/// Answers of REST endpoints that return a value (not an <see cref="IResult"/> or a stream) are
/// serialized into one buffer and sent with a Content-Length, in one write. The framework would
/// stream them chunked instead: a 173-byte answer then costs a chunk header, a terminating chunk
/// and, on the client, a chunked reader, which made a cached single lookup cost the client about
/// twice what the same bytes with a length cost. The bytes of the body are the same (same type,
/// same serializer options); every endpoint returning a value has a bounded answer (pages and
/// list limits), and the unbounded ones stream (<see cref="JsonArrayStream{T}"/>).
/// </summary>
public static class BufferedJson
{
    /// <summary>Endpoint filter factory: a no-op for endpoints that already produce an <see cref="IResult"/> or a stream.</summary>
    public static EndpointFilterDelegate Filter(EndpointFilterFactoryContext context, EndpointFilterDelegate next)
    {
        var returns = Unwrap(context.MethodInfo.ReturnType);
        if (returns == typeof(void) || returns == typeof(string) || typeof(IResult).IsAssignableFrom(returns) || IsStream(returns) || returns == typeof(object))
            return next;
        return async invocation =>
        {
            var value = await next(invocation);
            return value is null or IResult ? value : new Answer(value, returns);
        };
    }

    private static Type Unwrap(Type type) =>
        type.IsGenericType && (type.GetGenericTypeDefinition() == typeof(Task<>) || type.GetGenericTypeDefinition() == typeof(ValueTask<>))
            ? type.GetGenericArguments()[0]
            : type == typeof(Task) || type == typeof(ValueTask) ? typeof(void) : type;

    private static bool IsStream(Type type) =>
        type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IAsyncEnumerable<>)
        || type.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IAsyncEnumerable<>));

    private sealed class Answer(object value, Type declared) : IResult
    {
        public async Task ExecuteAsync(HttpContext http)
        {
            var options = http.RequestServices.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
            using var body = PooledJson.Serialize(value, declared, options);
            http.Response.ContentType = "application/json; charset=utf-8";
            http.Response.ContentLength = body.Memory.Length;
            await http.Response.Body.WriteAsync(body.Memory, http.RequestAborted);
        }
    }
}
