using Catalog.Api.Errors;

namespace Catalog.Api.Http;

/// <summary>
/// No control character (NUL above all, which PostgreSQL cannot store in text) reaches a handler
/// through the URL: a query-string value or path that holds one is a 400 naming the parameter,
/// before anything is looked up. Bodies are checked where they are read (LFNs, metadata, cursors).
/// </summary>
public static class ControlCharacters
{
    public static WebApplication UseNoControlCharacters(this WebApplication app)
    {
        app.Use(async (http, next) =>
        {
            if (http.Request.Path.Value is { } path && Find(path) is { } at)
                throw CatalogException.Invalid("path", $"the request path must not contain control characters (U+{(int)path[at]:X4} at {at})");
            foreach (var (name, values) in http.Request.Query)
                foreach (var value in values)
                    if (value is not null && Find(value) is { } i)
                        throw CatalogException.Invalid(name, $"must not contain control characters (U+{(int)value[i]:X4} at {i})");
            await next(http);
        });
        return app;
    }

    /// <summary>The index of the first control character, or null.</summary>
    public static int? Find(string text)
    {
        var i = text.AsSpan().IndexOfAnyInRange('\0', '\u001f');
        if (i < 0) i = text.AsSpan().IndexOfAnyInRange('\u007f', '\u009f');
        return i < 0 ? null : i;
    }
}
