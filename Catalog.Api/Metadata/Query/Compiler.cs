using System.Text;
using Catalog.Contracts;
using Npgsql;
using NpgsqlTypes;

namespace Catalog.Api.Metadata.Query;

/// <summary>Where a name's value comes from, and its type.</summary>
public sealed record Resolved(string Name, AttributeType Type, string Expression, bool DirectoryLevel, string? JsonColumn, bool BuiltIn);

/// <summary>
/// Type-checks a syntax tree against the attributes in force and compiles it to a parameterized
/// SQL condition. Values only ever travel as parameters; attribute names are inlined only after
/// they matched a declaration (letters, digits and '_'), which is what lets the planner match the
/// attribute's expression index.
/// </summary>
public sealed class Compiler
{
    private readonly IReadOnlyDictionary<string, AttributeDefinition> _attributes;
    private readonly QueryTarget _target;
    private readonly List<NpgsqlParameter> _parameters = [];

    public Compiler(IReadOnlyDictionary<string, AttributeDefinition> attributes, QueryTarget target)
    {
        _attributes = attributes;
        _target = target;
    }

    public IReadOnlyList<NpgsqlParameter> Parameters => _parameters;

    /// <summary>The condition split in top-level conjuncts: those on directory values only, and the rest.</summary>
    public (string? DirectoryPart, string? Others) Compile(Node node)
    {
        var conjuncts = new List<Node>();
        Flatten(node, conjuncts);
        var dir = new List<string>();
        var rest = new List<string>();
        foreach (var c in conjuncts)
            (IsDirectoryOnly(c) ? dir : rest).Add(Emit(c));
        return (dir.Count == 0 ? null : string.Join(" and ", dir), rest.Count == 0 ? null : string.Join(" and ", rest));
    }

    private static void Flatten(Node node, List<Node> into)
    {
        if (node is And a) { Flatten(a.Left, into); Flatten(a.Right, into); }
        else into.Add(node);
    }

    private bool IsDirectoryOnly(Node node) => node switch
    {
        And a => IsDirectoryOnly(a.Left) && IsDirectoryOnly(a.Right),
        Or o => IsDirectoryOnly(o.Left) && IsDirectoryOnly(o.Right),
        Not n => IsDirectoryOnly(n.Operand),
        Compare c => Resolve(c.Attribute, c.Position).DirectoryLevel,
        Between b => Resolve(b.Attribute, b.Position).DirectoryLevel,
        In i => Resolve(i.Attribute, i.Position).DirectoryLevel,
        Like l => Resolve(l.Attribute, l.Position).DirectoryLevel,
        Exists e => Resolve(e.Attribute, e.Position).DirectoryLevel,
        _ => false,
    };

    /// <summary>A name compared in a condition: <c>replicas</c> is shown, never compared (<c>se</c> is what compares).</summary>
    private Resolved Condition(string name, int position) => name == "replicas" && _target == QueryTarget.Files
        ? throw new QueryException(position, "'replicas' can be returned (attributes), not compared: use se = '...' for files with a replica there")
        : Resolve(name, position);

    /// <summary>A name as the query sees it: a built-in or a declared attribute.</summary>
    public Resolved Resolve(string name, int position)
    {
        var files = _target == QueryTarget.Files;
        switch (name)
        {
            case "lfn" or "path": return new(name, AttributeType.String, files ? "(d.path || '/' || f.name)" : "d.path", !files, null, true);
            case "name": return new(name, AttributeType.String, files ? "f.name" : "d.name", !files, null, true);
            case "created": return new(name, AttributeType.Timestamp, files ? "f.created" : "d.created", !files, null, true);
            case "size" when files: return new(name, AttributeType.Integer, "f.size", false, null, true);
            case "guid" when files: return new(name, AttributeType.String, "f.guid", false, null, true);
            case "se" when files: return new(name, AttributeType.String, "se", false, null, true);
            case "adler32" when files: return new(name, AttributeType.String, "f.adler32", false, null, true);
            case "replicas" when files: return new(name, AttributeType.String, "replicas", false, null, true);
        }
        if (!_attributes.TryGetValue(name, out var def))
            throw new QueryException(position, $"unknown attribute '{name}' (not declared here; built-ins: {string.Join(", ", files ? AttributeQueryNames.FileBuiltIns : AttributeQueryNames.DatasetBuiltIns)})");
        if (def.Target == AttributeTarget.Files && !files)
            throw new QueryException(position, $"'{name}' is an attribute of files (declared at {def.DefinedAt}); query files to use it");
        var column = def.Target == AttributeTarget.Files ? "f.metadata" : "d.eff_metadata";
        return new(name, def.Type, AttributeQueryNames.ValueExpression(column, name, def.Type), def.Target == AttributeTarget.Directories, column, false);
    }

    /// <summary>
    /// Three-valued logic as docs/QUERY.md defines it: a comparison on an entry without the
    /// attribute is unknown, neither true nor false, so neither it nor its negation matches. Each
    /// node compiles to "is true" (<paramref name="truth"/>) or "is false"; not swaps them, and De
    /// Morgan's laws carry them through and/or. SQL's own NULL logic is never relied on: the
    /// presence test (which also lets the planner use an attribute's partial index) is kept in both.
    /// </summary>
    private string Emit(Node node, bool truth = true) => node switch
    {
        And a => truth ? $"({Emit(a.Left)} and {Emit(a.Right)})" : $"({Emit(a.Left, false)} or {Emit(a.Right, false)})",
        Or o => truth ? $"({Emit(o.Left)} or {Emit(o.Right)})" : $"({Emit(o.Left, false)} and {Emit(o.Right, false)})",
        Not n => Emit(n.Operand, !truth),
        Compare c => EmitCompare(c).Sql(truth),
        Between b => EmitBetween(b).Sql(truth),
        In i => EmitIn(i).Sql(truth),
        Like l => EmitLike(l).Sql(truth),
        Exists e => EmitExists(e).Sql(truth),
        Literal l => throw new QueryException(l.Position, "a value alone is not a condition"),
        _ => throw new QueryException(node.Position, "unsupported expression"),
    };

    /// <summary>
    /// A condition on one attribute: known only where <paramref name="Presence"/> holds (empty: always
    /// known), then <paramref name="Core"/> decides. A containment test implies presence, so its
    /// "true" form stays the bare containment the GIN index answers.
    /// </summary>
    private readonly record struct Atom(string Presence, string Core, bool CoreImpliesPresence = false)
    {
        public string Sql(bool truth) => truth ? (CoreImpliesPresence ? $"({Core})" : $"({Presence}{Core})") : $"({Presence}not ({Core}))";
    }

    private Atom EmitCompare(Compare c)
    {
        var r = Condition(c.Attribute, c.Position);
        var op = c.Op == "!=" ? "<>" : c.Op;
        if (r.Name == "se")
        {
            if (c.Op != "=") throw new QueryException(c.Position, "'se' supports =, in, exists and missing (use not (se = ...) for files without a replica there)");
            return new("", $"exists (select 1 from replica r join storage_element s on s.id = r.se_id where r.file_id = f.id and s.name = {Param(Text(c.Value, r))})");
        }
        if (r.Name == "guid")
        {
            if (c.Op is not ("=" or "!=")) throw new QueryException(c.Position, "'guid' supports = and != only");
            return new("", $"f.guid {op} {Param(Guid(c.Value), NpgsqlDbType.Uuid)}");
        }
        if (r.Name == "adler32")
        {
            if (c.Op is not ("=" or "!=")) throw new QueryException(c.Position, "'adler32' supports = and != only");
            return new("", $"f.adler32 {op} {Param(Adler32(c.Value), NpgsqlDbType.Integer)}");
        }
        if (r.Type == AttributeType.Boolean && c.Op is not ("=" or "!="))
            throw new QueryException(c.Position, $"'{r.Name}' is a boolean: use = or !=");
        // Equality on a directory attribute as jsonb containment: the GIN index on eff_metadata answers it.
        if (c.Op == "=" && r is { BuiltIn: false, JsonColumn: "d.eff_metadata" })
            return new(Presence(r), $"{r.JsonColumn} @> {Containment(r, c.Value)}", CoreImpliesPresence: true);
        return new(Presence(r), $"{r.Expression} {op} {Value(c.Value, r)}");
    }

    private Atom EmitBetween(Between b)
    {
        var r = Condition(b.Attribute, b.Position);
        if (r.Type == AttributeType.Boolean || r.Name is "se" or "guid" or "adler32") throw new QueryException(b.Position, $"'{r.Name}' cannot be used with between");
        return new(Presence(r), $"{r.Expression} between {Value(b.Low, r)} and {Value(b.High, r)}");
    }

    private Atom EmitIn(In i)
    {
        var r = Condition(i.Attribute, i.Position);
        if (r.Type == AttributeType.Boolean) throw new QueryException(i.Position, $"'{r.Name}' is a boolean: use = or !=");
        if (r.Name == "se")
        {
            if (i.Negated) throw new QueryException(i.Position, "'se not in' is not supported (use not (se in (...)))");
            var names = i.Values.Select(v => Text(v, r)).ToArray();
            return new("", $"exists (select 1 from replica r join storage_element s on s.id = r.se_id where r.file_id = f.id and s.name = any({Param(names, NpgsqlDbType.Array | NpgsqlDbType.Text)}))");
        }
        if (r.Name == "guid")
            return new("", $"{(i.Negated ? "not " : "")}f.guid = any({Param(i.Values.Select(Guid).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Uuid)})");
        if (r.Name == "adler32")
            return new("", $"{(i.Negated ? "not " : "")}f.adler32 = any({Param(i.Values.Select(Adler32).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Integer)})");
        if (!i.Negated && r is { BuiltIn: false, JsonColumn: "d.eff_metadata" })
            return new(Presence(r), "(" + string.Join(" or ", i.Values.Select(v => $"{r.JsonColumn} @> {Containment(r, v)}")) + ")", CoreImpliesPresence: true);
        var array = r.Type is AttributeType.Integer or AttributeType.Float
            ? Param(i.Values.Select(v => Number(v, r)).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Numeric)
            : r.Name == "created"
                ? Param(i.Values.Select(v => Timestamp(v, r)).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.TimestampTz)
                : Param(i.Values.Select(v => r.Type == AttributeType.Timestamp ? TimestampText(v, r) : Text(v, r)).ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Text);
        return new(Presence(r), i.Negated ? $"not ({r.Expression} = any({array}))" : $"{r.Expression} = any({array})");
    }

    private Atom EmitLike(Like l)
    {
        var r = Condition(l.Attribute, l.Position);
        if (r.Type != AttributeType.String || r.Name is "se" or "guid" or "adler32")
            throw new QueryException(l.Position, $"'{r.Name}' is not a string attribute: like needs one");
        var pattern = new StringBuilder();
        foreach (var ch in l.Pattern)
            pattern.Append(ch switch { '*' => "%", '?' => "_", '%' => "\\%", '_' => "\\_", '\\' => "\\\\", _ => ch.ToString() });
        return new(Presence(r), $"{(l.Negated ? "not " : "")}{r.Expression} like {Param(pattern.ToString(), NpgsqlDbType.Text)}");
    }

    private Atom EmitExists(Exists e)
    {
        var r = Condition(e.Attribute, e.Position);
        if (r.Name == "se")
            return new("", $"{(e.Present ? "" : "not ")}exists (select 1 from replica r where r.file_id = f.id)");
        if (r.BuiltIn) throw new QueryException(e.Position, $"'{r.Name}' is built in: every entry has it");
        var has = $"coalesce({r.JsonColumn} ? '{r.Name}', false)";
        return new("", e.Present ? has : $"not {has}");
    }

    /// <summary>Comparisons only match entries that carry the attribute (and let the planner use its partial index).</summary>
    private static string Presence(Resolved r) => r.BuiltIn ? "" : $"{r.JsonColumn} ? '{r.Name}' and ";

    private string Value(Literal literal, Resolved r) => r.Type switch
    {
        AttributeType.Integer or AttributeType.Float => Param(Number(literal, r), NpgsqlDbType.Numeric),
        AttributeType.Boolean => Param(literal is BoolLiteral b ? b.Value : throw Mismatch(literal, r, "true or false"), NpgsqlDbType.Boolean),
        AttributeType.Timestamp when r.BuiltIn => Param(Timestamp(literal, r), NpgsqlDbType.TimestampTz),
        AttributeType.Timestamp => Param(TimestampText(literal, r), NpgsqlDbType.Text),
        _ => Param(Text(literal, r), NpgsqlDbType.Text),
    };

    private string Containment(Resolved r, Literal literal)
    {
        System.Text.Json.Nodes.JsonNode value = r.Type switch
        {
            AttributeType.Integer or AttributeType.Float => System.Text.Json.Nodes.JsonValue.Create(Number(literal, r)),
            AttributeType.Boolean => System.Text.Json.Nodes.JsonValue.Create(literal is BoolLiteral b ? b.Value : throw Mismatch(literal, r, "true or false")),
            AttributeType.Timestamp => System.Text.Json.Nodes.JsonValue.Create(TimestampText(literal, r)),
            _ => System.Text.Json.Nodes.JsonValue.Create(Text(literal, r)),
        };
        return Param(new System.Text.Json.Nodes.JsonObject { [r.Name] = value }.ToJsonString(), NpgsqlDbType.Jsonb);
    }

    private static decimal Number(Literal literal, Resolved r) =>
        literal is NumberLiteral n ? n.Value : throw Mismatch(literal, r, "a number");

    private static string Text(Literal literal, Resolved r) =>
        literal is StringLiteral s ? s.Value : throw Mismatch(literal, r, "a quoted string");

    private static DateTimeOffset Timestamp(Literal literal, Resolved r) =>
        literal is StringLiteral s && AttributeSchema.TryTimestamp(s.Value, out var t) ? t : throw Mismatch(literal, r, "a quoted ISO-8601 time, e.g. '2026-11-25T10:00:00Z'");

    private static string TimestampText(Literal literal, Resolved r) => AttributeSchema.FormatTimestamp(Timestamp(literal, r));

    /// <summary>A checksum as the API writes it: 8 hex digits, either case (stored as a 32-bit integer).</summary>
    private static int Adler32(Literal literal) =>
        literal is StringLiteral s && Http.Mapping.TryParseAdler32(s.Value, out var v) ? v : throw new QueryException(literal.Position, "expected a quoted Adler-32 of 8 hex digits, e.g. '0a1b2c3d'");

    private static System.Guid Guid(Literal literal) =>
        literal is StringLiteral s && System.Guid.TryParse(s.Value, out var g) ? g : throw new QueryException(literal.Position, "expected a quoted GUID");

    private static QueryException Mismatch(Literal literal, Resolved r, string expected) =>
        new(literal.Position, $"'{r.Name}' is {Http.Mapping.Wire(r.Type)}: expected {expected}, found {Describe(literal)}");

    private static string Describe(Literal l) => l switch
    {
        StringLiteral s => $"'{s.Value}'",
        NumberLiteral n => n.Value.ToString(System.Globalization.CultureInfo.InvariantCulture),
        BoolLiteral b => b.Value ? "true" : "false",
        _ => "a value",
    };

    private string Param(object value, NpgsqlDbType type)
    {
        var name = $"p{_parameters.Count}";
        _parameters.Add(new NpgsqlParameter(name, type) { Value = value });
        return "@" + name;
    }

    private string Param(string value) => Param(value, NpgsqlDbType.Text);
}
