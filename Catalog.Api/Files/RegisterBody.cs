using System.Text.Json;
using Catalog.Api.Errors;
using Catalog.Contracts;

namespace Catalog.Api.Files;

/// <summary>
/// The body of <c>POST /api/v1/files</c>, read item by item: an item that is not a file (not an
/// object, a size given as text, a GUID that is none, a checksum given as a number, an unknown field)
/// fails alone, with its field named, and the rest of the batch is registered. Only a body that is
/// not JSON at all, or has no <c>files</c> list, is refused whole.
/// </summary>
public static class RegisterBody
{
    /// <summary>The request, and per item the error of one the reader could not read as a file (an empty array when it read them all).</summary>
    public static async Task<(RegisterRequest Request, ItemError?[] Errors)> ReadAsync(HttpRequest http, JsonSerializerOptions options, CancellationToken ct)
    {
        if (!http.HasJsonContentType())
            throw CatalogException.Invalid("Content-Type", "send Content-Type: application/json with a body {\"files\": [...]}");
        // Read once into a pooled buffer: the whole list in one pass when every item is well formed
        // (the registration storm's case), item by item only when the reader refuses something.
        using var body = new Http.PooledJson();
        for (int read; (read = await http.Body.ReadAsync(body.GetMemory(64 * 1024), ct)) > 0;) body.Advance(read);
        try
        {
            if (JsonSerializer.Deserialize<RegisterRequest>(body.Memory.Span, options) is { Files: not null } whole)
                return (whole, []);
        }
        catch (JsonException) { }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body.Memory);
        }
        catch (JsonException e)
        {
            throw new CatalogException(ErrorCode.InvalidArgument, $"the body is not JSON (line {e.LineNumber + 1}): {e.Message.Split(". ")[0]}");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw CatalogException.Invalid("files", "the body must be an object {\"files\": [...]}");
            JsonElement? list = null;
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.NameEquals("files")) list = property.Value;
                else throw new CatalogException(ErrorCode.InvalidArgument, $"{property.Name}: unknown field '{property.Name}' (check its spelling)", property.Name);
            }
            if (list is not { ValueKind: JsonValueKind.Array } items)
                throw CatalogException.Invalid("files", list is null or { ValueKind: JsonValueKind.Null } ? "is required" : "must be a list of files");
            var files = new List<NewFile?>(items.GetArrayLength());
            var errors = new ItemError?[items.GetArrayLength()];
            var i = 0;
            foreach (var item in items.EnumerateArray())
            {
                files.Add(null);
                if (item.ValueKind != JsonValueKind.Object)
                    errors[i] = CatalogException.InvalidItem($"files[{i}]", $"must be an object (a file to register), not {Kind(item)}");
                else
                    try
                    {
                        files[i] = item.Deserialize<NewFile>(options);
                    }
                    catch (JsonException e)
                    {
                        var error = ErrorMapping.Json(e);
                        errors[i] = error with { Message = $"files[{i}].{error.Message}", Field = $"files[{i}]" + (error.Field is { } f ? "." + f : "") };
                    }
                i++;
            }
            return (new RegisterRequest(files), errors);
        }
    }

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Array => "a list", JsonValueKind.String => "a string", JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "true or false", _ => "null",
    };
}
