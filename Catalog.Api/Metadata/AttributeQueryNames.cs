using Catalog.Contracts;

namespace Catalog.Api.Metadata;

/// <summary>Built-in names and the one SQL expression that reads an attribute (shared by indexes and queries).</summary>
public static class AttributeQueryNames
{
    /// <summary>Built-ins of file queries: lfn, name, size, created, guid, se, adler32, and replicas (returned only).</summary>
    public static readonly string[] FileBuiltIns = ["lfn", "name", "size", "created", "guid", "se", "adler32", "replicas"];

    /// <summary>Built-ins of dataset queries.</summary>
    public static readonly string[] DatasetBuiltIns = ["lfn", "name", "created"];

    public static bool IsBuiltIn(string name) => FileBuiltIns.Contains(name) || name == "path";

    /// <summary>
    /// The value of attribute <paramref name="name"/> in jsonb column <paramref name="column"/>
    /// as a typed SQL value, or NULL when absent or of another JSON type (so a cast never fails on
    /// a value some permissive corner stored with another type). <paramref name="name"/> must be a
    /// valid attribute name (letters, digits, '_'), which is what makes inlining it safe.
    /// </summary>
    public static string ValueExpression(string column, string name, AttributeType type)
    {
        if (!AttributeSchema.IsValidName(name)) throw new ArgumentException($"invalid attribute name '{name}'", nameof(name));
        return type switch
        {
            AttributeType.Integer or AttributeType.Float =>
                $"case when jsonb_typeof({column}->'{name}') = 'number' then ({column}->>'{name}')::numeric end",
            AttributeType.Boolean =>
                $"case when jsonb_typeof({column}->'{name}') = 'boolean' then ({column}->>'{name}')::boolean end",
            _ => $"case when jsonb_typeof({column}->'{name}') = 'string' then {column}->>'{name}' end",
        };
    }
}
