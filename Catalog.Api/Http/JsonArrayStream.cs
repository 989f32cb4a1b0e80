using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Catalog.Api.Http;

/// <summary>
/// A JSON array written item by item straight into the response pipe, flushed every 64 KB. It
/// replaces the framework's serialization of an <see cref="IAsyncEnumerable{T}"/> on the bulk
/// lookup, where that path cost more than reading the rows (a 10,000-LFN answer is 3 MB), and on
/// the query stream, whose rows <paramref name="write"/> writes from what the database returned
/// (no object per row in between). The bytes are the same: items are serialized, and strings
/// escaped, with the options every other answer is written with.
/// </summary>
public sealed class JsonArrayStream<T>(IAsyncEnumerable<T> items, Action<Utf8JsonWriter, T>? write = null) : IResult
{
    private const int FlushBytes = 64 * 1024;

    public async Task ExecuteAsync(HttpContext http)
    {
        http.Response.ContentType = "application/json; charset=utf-8";
        var ct = http.RequestAborted;
        // The options the framework serializes every other answer with (CatalogJson's settings).
        var options = http.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions;
        if (write is null)
        {
            var typeInfo = (JsonTypeInfo<T>)options.GetTypeInfo(typeof(T));
            write = (writer, item) => JsonSerializer.Serialize(writer, item, typeInfo);
        }
        var pipe = http.Response.BodyWriter;
        await using var writer = new Utf8JsonWriter(pipe, new JsonWriterOptions { SkipValidation = true, Encoder = options.Encoder });
        writer.WriteStartArray();
        await foreach (var item in items.WithCancellation(ct))
        {
            write(writer, item);
            if (writer.BytesPending >= FlushBytes)
            {
                await writer.FlushAsync(ct);
                await pipe.FlushAsync(ct);
            }
        }
        writer.WriteEndArray();
        await writer.FlushAsync(ct);
        await pipe.FlushAsync(ct);
    }
}
