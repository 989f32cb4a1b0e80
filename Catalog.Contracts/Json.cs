using System.Text.Json;
using System.Text.Json.Serialization;

namespace Catalog.Contracts;

/// <summary>The JSON settings shared by server and client, so both spell the wire alike.</summary>
public static class CatalogJson
{
    /// <summary>camelCase properties, UPPER_SNAKE error codes, lower-case enums elsewhere.</summary>
    public static JsonSerializerOptions Options { get; } = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    /// <summary>Applies the catalog's settings to existing options (used for ASP.NET's own).</summary>
    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        options.Converters.Add(new JsonStringEnumConverter<ErrorCode>(JsonNamingPolicy.SnakeCaseUpper));
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false));
        return options;
    }
}
