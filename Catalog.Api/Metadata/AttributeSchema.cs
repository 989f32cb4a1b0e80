using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Catalog.Api.Namespace;
using Catalog.Contracts;
using Catalog.Storage;
using Npgsql;

namespace Catalog.Api.Metadata;

/// <summary>The attributes in force at one directory: declared on it or an ancestor, and whether undeclared ones pass.</summary>
public sealed class Schema(string path, IReadOnlyDictionary<string, AttributeDefinition> attributes, bool permissive, string? policyAt)
{
    public string Path { get; } = path;
    public IReadOnlyDictionary<string, AttributeDefinition> Attributes { get; } = attributes;
    public bool Permissive { get; } = permissive;
    public string? PolicyAt { get; } = policyAt;

    public SchemaInForce ToContract() => new(Path, Permissive, PolicyAt,
        Attributes.Values.OrderBy(a => a.DefinedAt, StringComparer.Ordinal).ThenBy(a => a.Name, StringComparer.Ordinal).ToList());

    /// <summary>
    /// Checks and normalizes values for an entry of <paramref name="target"/> (null values are
    /// removals and pass). Answers the first problem, naming the attribute.
    /// </summary>
    public ItemError? Check(JsonObject values, AttributeTarget target, string at, out JsonObject normalized)
    {
        normalized = new JsonObject();
        foreach (var (name, value) in values)
        {
            if (!AttributeSchema.IsValidName(name))
                return new ItemError(ErrorCode.InvalidArgument, $"{at}.{name}: attribute names are letters, digits and '_', starting with a letter (at most 63)", $"{at}.{name}");
            // PostgreSQL cannot store U+0000 in text or jsonb: refused here, for this item alone, instead of
            // failing the statement (and with it every other item and request sharing the transaction).
            if (AttributeSchema.HasNul(value))
                return new ItemError(ErrorCode.InvalidArgument, $"{at}.{name}: text must not contain the NUL character (U+0000)", $"{at}.{name}");
            if (!Attributes.TryGetValue(name, out var def))
            {
                if (!Permissive)
                    return new ItemError(ErrorCode.InvalidArgument, $"{at}.{name}: unknown attribute '{name}' (no declaration in force at {Path})", $"{at}.{name}");
                normalized[name] = value?.DeepClone();
                continue;
            }
            if (def.Target != target)
                return new ItemError(ErrorCode.InvalidArgument,
                    $"{at}.{name}: '{name}' is declared for {Mapping(def.Target)} (at {def.DefinedAt}), not {Mapping(target)}", $"{at}.{name}");
            if (value is null) { normalized[name] = null; continue; }
            if (AttributeSchema.Normalize(def.Type, value) is not { } n)
                return new ItemError(ErrorCode.InvalidArgument,
                    $"{at}.{name}: {Describe(value)} is not a valid {Http.Mapping.Wire(def.Type)}", $"{at}.{name}");
            if (def.Pattern is { } pattern && n.GetValueKind() == System.Text.Json.JsonValueKind.String && !AttributeSchema.MatchesPattern(pattern, n.GetValue<string>()))
                return new ItemError(ErrorCode.InvalidArgument,
                    $"{at}.{name}: {Describe(value)} does not match the pattern {pattern} (declared at {def.DefinedAt})", $"{at}.{name}");
            if (def.Allowed is { } allowed && !allowed.Any(a => JsonNode.DeepEquals(a, n)))
                return new ItemError(ErrorCode.InvalidArgument,
                    $"{at}.{name}: {Describe(value)} is not one of the allowed values ({string.Join(", ", allowed.Select(Describe))})", $"{at}.{name}");
            normalized[name] = n;
        }
        return null;
    }

    private static string Mapping(AttributeTarget t) => t == AttributeTarget.Files ? "files" : "directories";

    internal static string Describe(JsonNode? v) => v is null ? "null" : v.ToJsonString();
}

public static partial class AttributeSchema
{
    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_]{0,62}$")]
    private static partial Regex NamePattern();

    public static bool IsValidName(string name) => NamePattern().IsMatch(name);

    /// <summary>Whether a value holds U+0000 anywhere (in a string, a key, or nested), which PostgreSQL cannot store.</summary>
    public static bool HasNul(JsonNode? value) => value switch
    {
        JsonObject o => o.Any(kv => kv.Key.Contains('\0') || HasNul(kv.Value)),
        JsonArray a => a.Any(HasNul),
        JsonValue v => v.TryGetValue<string>(out var text) && text.Contains('\0'),
        _ => false,
    };

    /// <summary>
    /// The canonical form of a value of <paramref name="type"/>, or null if it is not one:
    /// integers as JSON integers, floats as numbers, timestamps as UTC ISO-8601 strings with
    /// seven fraction digits (so they sort as text).
    /// </summary>
    public static JsonNode? Normalize(AttributeType type, JsonNode value)
    {
        if (value is not JsonValue v) return null;
        var kind = v.GetValueKind();
        switch (type)
        {
            case AttributeType.Integer:
                if (kind == JsonValueKind.Number && v.TryGetValue<long>(out var l)) return JsonValue.Create(l);
                if (kind == JsonValueKind.Number && v.TryGetValue<double>(out var d) && d == Math.Floor(d) && Math.Abs(d) < 9e15) return JsonValue.Create((long)d);
                return null;
            case AttributeType.Float:
                return kind == JsonValueKind.Number && v.TryGetValue<double>(out var f) && double.IsFinite(f) ? JsonValue.Create(f) : null;
            case AttributeType.String:
                return kind == JsonValueKind.String && v.GetValue<string>() is { Length: <= 1024 } s && !s.Any(char.IsControl) ? JsonValue.Create(s) : null;
            case AttributeType.Boolean:
                return kind is JsonValueKind.True or JsonValueKind.False ? JsonValue.Create(kind == JsonValueKind.True) : null;
            case AttributeType.Timestamp:
                return kind == JsonValueKind.String && TryTimestamp(v.GetValue<string>(), out var t) ? JsonValue.Create(FormatTimestamp(t)) : null;
            default:
                return null;
        }
    }

    public static bool TryTimestamp(string text, out DateTimeOffset value) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value);

    public static string FormatTimestamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    /// <summary>The schemas in force at many directories with two queries.</summary>
    public static async Task<Dictionary<string, Schema>> LoadAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, IEnumerable<string> dirs, CancellationToken ct)
    {
        var chains = dirs.Distinct(StringComparer.Ordinal).ToDictionary(d => d, d => Lfn.Ancestry(d).ToList(), StringComparer.Ordinal);
        var all = chains.Values.SelectMany(c => c).Distinct(StringComparer.Ordinal).ToArray();
        var defs = (await MetadataStore.DefinitionsOnAsync(conn, tx, all, ct)).ToLookup(d => d.Path, StringComparer.Ordinal);
        var policies = (await MetadataStore.PoliciesOnAsync(conn, tx, all, ct)).ToDictionary(p => p.Path, StringComparer.Ordinal);
        var result = new Dictionary<string, Schema>(StringComparer.Ordinal);
        foreach (var (dir, chain) in chains)
        {
            var attributes = new Dictionary<string, AttributeDefinition>(StringComparer.Ordinal);
            foreach (var p in chain)
                foreach (var d in defs[p])
                    attributes.TryAdd(d.Name, ToContract(d));
            var policy = chain.Select(p => policies.GetValueOrDefault(p)).FirstOrDefault(p => p is not null);
            result[dir] = new Schema(dir, attributes, policy?.Permissive ?? false, policy?.Path);
        }
        return result;
    }

    public static AttributeDefinition ToContract(AttributeDefRow d) => new(d.Name, (AttributeType)d.Type, (AttributeTarget)d.Target, d.Path,
        d.Allowed is null ? null : JsonNode.Parse(d.Allowed)!.AsArray().ToList(), d.Indexed, d.Pattern);

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Regex> Patterns = new(StringComparer.Ordinal);

    /// <summary>
    /// A declared pattern, matched against the whole value, with a time limit (a pattern that
    /// backtracks badly fails its value instead of holding a thread). Null when it does not compile.
    /// </summary>
    public static Regex? CompilePattern(string pattern)
    {
        if (Patterns.TryGetValue(pattern, out var cached)) return cached;
        try
        {
            var regex = new Regex($"^(?:{pattern})$", RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
            if (Patterns.Count < 10_000) Patterns[pattern] = regex;
            return regex;
        }
        catch (ArgumentException) { return null; }
    }

    /// <summary>Whether <paramref name="value"/> (a string) matches <paramref name="pattern"/> in full; a time-out counts as no.</summary>
    public static bool MatchesPattern(string pattern, string value)
    {
        try { return CompilePattern(pattern)?.IsMatch(value) == true; }
        catch (RegexMatchTimeoutException) { return false; }
    }
}
