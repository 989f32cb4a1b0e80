using System.Text;
using System.Text.Json;
using Npgsql;

namespace Catalog.Storage;

/// <summary>
/// One match of a metadata query as it is read: its keyset cursor, its path, and its attributes,
/// written as a JSON object by <see cref="WriteAttributes"/>. The same instance moves from row to
/// row (valid until the next is read), so a million-file stream allocates nothing per attribute.
/// </summary>
/// <remarks>
/// The database returns what the answer needs, not JSON: sizes and checksums as numbers, replicas
/// as one integer each (SE id and state), and only the other attributes as JSON text, which is
/// copied token by token. Building each row's JSON object in SQL (jsonb_build_object with an
/// aggregate per file) took twice the time of the whole query without it. The bytes written are
/// those the API wrote when it parsed that JSON object and serialized it again: keys in jsonb's
/// order (shorter first, then by bytes), replicas and SE names in the same orders, strings escaped
/// by the writer.
/// </remarks>
public sealed class QueryMatch
{
    /// <summary>The built-ins read as typed columns; every other attribute comes as JSON text.</summary>
    internal enum Kind { Json, Size, Adler32, Replicas, Se }

    private readonly NpgsqlDataReader reader;
    private readonly (string Name, Kind Kind, int Column)[] attributes;
    private readonly IReadOnlyDictionary<int, string> seNames;
    private readonly List<(string Name, short State)> replicas = [];

    internal QueryMatch(NpgsqlDataReader reader, IReadOnlyList<(string Name, Kind Kind)> projected, IReadOnlyDictionary<int, string> seNames)
    {
        this.reader = reader;
        this.seNames = seNames;
        // The API answered the attributes in jsonb's key order (every name is ASCII, so length, then ordinal).
        attributes = projected.Select((a, i) => (a.Name, a.Kind, Column: i + 1))
            .OrderBy(a => a.Name.Length).ThenBy(a => a.Name, StringComparer.Ordinal).ToArray();
    }

    /// <summary>The match's LFN (or a dataset's LPN), which is also its keyset cursor.</summary>
    public string Path { get; private set; } = "";

    /// <summary>Whether attributes were asked for (without any, a match answers its path alone).</summary>
    public bool HasAttributes => attributes.Length > 0;

    internal void Read()
    {
        Path = reader.GetString(0);
    }

    /// <summary>Writes the attributes as one JSON object.</summary>
    public void WriteAttributes(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        foreach (var (name, kind, column) in attributes)
        {
            writer.WritePropertyName(name);
            if (reader.IsDBNull(column) && kind != Kind.Replicas) { writer.WriteNullValue(); continue; }
            switch (kind)
            {
                case Kind.Size: writer.WriteNumberValue(reader.GetInt64(column)); break;
                case Kind.Adler32: writer.WriteStringValue(Adler32(reader.GetInt32(column))); break;
                case Kind.Replicas: WriteReplicas(writer, column); break;
                case Kind.Se: WriteSes(writer, column); break;
                default: Copy(reader.GetString(column), writer); break;
            }
        }
        writer.WriteEndObject();
    }

    /// <summary>Every replica's SE with its state ({} without any), in jsonb's key order.</summary>
    private void WriteReplicas(Utf8JsonWriter writer, int column)
    {
        Replicas(column);
        replicas.Sort((a, b) => a.Name.Length != b.Name.Length ? a.Name.Length - b.Name.Length : string.CompareOrdinal(a.Name, b.Name));
        writer.WriteStartObject();
        foreach (var (name, state) in replicas)
            writer.WriteString(name, state switch { 0 => "available", 1 => "unavailable", 2 => "bad", _ => "being_copied" });
        writer.WriteEndObject();
    }

    /// <summary>The SEs holding a replica, by name.</summary>
    private void WriteSes(Utf8JsonWriter writer, int column)
    {
        Replicas(column);
        replicas.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        writer.WriteStartArray();
        foreach (var (name, _) in replicas) writer.WriteStringValue(name);
        writer.WriteEndArray();
    }

    /// <summary>Reads a replica column: one integer per replica, its SE id times 4 plus its state.</summary>
    private void Replicas(int column)
    {
        replicas.Clear();
        if (reader.IsDBNull(column)) return;
        foreach (var packed in reader.GetFieldValue<int[]>(column))
            replicas.Add((seNames.TryGetValue(packed >> 2, out var name) ? name : $"#{packed >> 2}", (short)(packed & 3)));
    }

    /// <summary>The checksum as the API writes it: eight lower-case hex digits (stored as a 32-bit integer).</summary>
    private static string Adler32(int value) => ((uint)value).ToString("x8");

    /// <summary>A JSON value from the database, token by token: the writer escapes strings as the API always has.</summary>
    private static void Copy(string json, Utf8JsonWriter writer)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var tokens = new Utf8JsonReader(bytes);
        while (tokens.Read())
        {
            switch (tokens.TokenType)
            {
                case JsonTokenType.StartObject: writer.WriteStartObject(); break;
                case JsonTokenType.EndObject: writer.WriteEndObject(); break;
                case JsonTokenType.StartArray: writer.WriteStartArray(); break;
                case JsonTokenType.EndArray: writer.WriteEndArray(); break;
                case JsonTokenType.PropertyName: writer.WritePropertyName(tokens.GetString()!); break;
                case JsonTokenType.String: writer.WriteStringValue(tokens.GetString()); break;
                case JsonTokenType.Number: writer.WriteRawValue(tokens.ValueSpan, skipInputValidation: true); break;
                case JsonTokenType.True: writer.WriteBooleanValue(true); break;
                case JsonTokenType.False: writer.WriteBooleanValue(false); break;
                case JsonTokenType.Null: writer.WriteNullValue(); break;
            }
        }
    }
}
