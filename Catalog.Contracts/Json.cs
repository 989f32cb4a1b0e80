using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Catalog.Contracts;

/// <summary>The JSON settings shared by server and client, so both spell the wire alike.</summary>
public static class CatalogJson
{
    /// <summary>camelCase properties, UPPER_SNAKE error codes, lower-case enums elsewhere.</summary>
    public static JsonSerializerOptions Options { get; } = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    /// <summary>
    /// Applies the catalog's settings to existing options (used for ASP.NET's own). Enums get one
    /// generic converter each, and the contracts' metadata comes from <see cref="CatalogJsonContext"/>
    /// (generated at build time) before reflection: a native-AOT program (the production job) can
    /// use the client, and a short-lived one does not pay reflection's warm-up on every start.
    /// </summary>
    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        options.Converters.Add(new JsonStringEnumConverter<ErrorCode>(JsonNamingPolicy.SnakeCaseUpper));
        foreach (var converter in EnumConverters) options.Converters.Add(converter);
        options.TypeInfoResolver = JsonTypeInfoResolver.Combine(CatalogJsonContext.Default, options.TypeInfoResolver ?? new DefaultJsonTypeInfoResolver());
        return options;
    }

    /// <summary>An enum value as the wire spells it (snake_case), e.g. for query strings and tables.</summary>
    public static string Name<T>(T value) where T : struct, Enum => JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());

    /// <summary>snake_case names for every enum of the contracts (a new enum goes here too).</summary>
    private static IEnumerable<JsonConverter> EnumConverters =>
    [
        new SnakeEnum<AttributeType>(), new SnakeEnum<AttributeTarget>(), new SnakeEnum<QueryTarget>(), new SnakeEnum<FilterOp>(),
        new SnakeEnum<LineageDirection>(), new SnakeEnum<StorageElementState>(), new SnakeEnum<ReplicaState>(), new SnakeEnum<FileStatus>(),
        new SnakeEnum<EntryType>(), new SnakeEnum<RemoveStatus>(), new SnakeEnum<ItemStatus>(), new SnakeEnum<ReplicaOutcome>(),
        new SnakeEnum<ProductionKind>(), new SnakeEnum<ProductionState>(), new SnakeEnum<JobState>(), new SnakeEnum<FailureClass>(), new SnakeEnum<ChangeKind>(),
        new SnakeEnum<RuleState>(), new SnakeEnum<LockState>(), new SnakeEnum<TransferState>(),
        // Enums of other assemblies still get snake_case names, by reflection (not under native AOT).
        new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false),
    ];
}

/// <summary>An enum as its snake_case name; integers are refused.</summary>
public sealed class SnakeEnum<T>() : JsonStringEnumConverter<T>(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) where T : struct, Enum;

/// <summary>Build-time JSON metadata of what the production job sends and reads (and more to come).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RegisterRequest))]
[JsonSerializable(typeof(RegisterResponse))]
[JsonSerializable(typeof(QueryRequest))]
[JsonSerializable(typeof(QueryPage))]
[JsonSerializable(typeof(IReadOnlyList<Replica>))]
[JsonSerializable(typeof(MetadataReadRequest))]
[JsonSerializable(typeof(MetadataResponse))]
[JsonSerializable(typeof(JobReport))]
[JsonSerializable(typeof(JsonObject))]
[JsonSerializable(typeof(ChangePage))]
[JsonSerializable(typeof(FileReplicasRow))]
public sealed partial class CatalogJsonContext : JsonSerializerContext;

/// <summary>
/// A permission mode: a JSON number is taken as it is (420 is 0644), a string as octal digits, the
/// way people write modes ("750", "0750", "0o750"). Without this, "400" was read as the decimal
/// 400, which is 0620: a different mode, silently.
/// </summary>
public sealed class OctalModeConverter : JsonConverter<int?>
{
    public override bool HandleNull => true;

    public override int? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null: return null;
            case JsonTokenType.Number: return reader.GetInt32();
            case JsonTokenType.String:
                var text = reader.GetString()!.Trim();
                var digits = text.StartsWith("0o", StringComparison.OrdinalIgnoreCase) ? text[2..] : text;
                if (digits.Length is 0 or > 11 || digits.Any(c => c is < '0' or > '7'))
                    throw new JsonException($"'{text}' is not an octal mode (like \"750\" or \"0644\")");
                return Convert.ToInt32(digits, 8);
            default: throw new JsonException("a mode is a number or a string of octal digits (like \"750\")");
        }
    }

    public override void Write(Utf8JsonWriter writer, int? value, JsonSerializerOptions options)
    {
        if (value is { } mode) writer.WriteNumberValue(mode);
        else writer.WriteNullValue();
    }
}
