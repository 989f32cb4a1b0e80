using Catalog.Api.Errors;
using Catalog.Contracts;

namespace Catalog.Api.Security;

/// <summary>Marks a POST that only reads (a query, a lookup): where public reads are allowed, anyone may send it.</summary>
public sealed class ReadOnlyEndpoint;

/// <summary>
/// Identity before anything else at every write door: an anonymous request to an endpoint that
/// changes something is answered 401 before its body is read, so no item is parsed, looked up or
/// audited on behalf of nobody, whatever the body holds.
/// </summary>
public static class IdentityFirst
{
    /// <summary>Declares an endpoint reached by POST as a read.</summary>
    public static TBuilder ReadOnly<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ReadOnlyEndpoint());

    /// <summary>Whether a request to <paramref name="endpoint"/> by <paramref name="method"/> can change something.</summary>
    public static bool IsWrite(string method, Endpoint? endpoint) =>
        endpoint is not null && !HttpMethods.IsGet(method) && !HttpMethods.IsHead(method) && !HttpMethods.IsOptions(method)
        && endpoint.Metadata.GetMetadata<ReadOnlyEndpoint>() is null;

    public static WebApplication UseIdentityFirst(this WebApplication app)
    {
        app.Use(async (http, next) =>
        {
            if (IsWrite(http.Request.Method, http.GetEndpoint()) && !http.RequestServices.GetRequiredService<Caller>().IsAuthenticated)
                throw new CatalogException(ErrorCode.Unauthorized,
                    "this request changes the catalog: send a token (Authorization: Bearer <token>) or a client certificate");
            await next(http);
        });
        return app;
    }
}
