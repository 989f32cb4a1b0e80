using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Catalog.Tests.Metadata;

/// <summary>
/// The whole query language against a small reference evaluator of its documented semantics
/// (docs/QUERY.md: three-valued logic, a comparison on a missing attribute is unknown and unknown
/// never matches), written here and nowhere else. Random files with random file attributes and
/// inherited directory attributes (some missing, some strings with quotes, % and _), random queries
/// of depth 3 and more over every operator, the built-ins, like patterns with * and ?; every query's
/// matches through the server must equal the reference's.
/// <para>
/// The seed is fixed (the same queries every run); <c>CATALOG_QUERY_SEED=random</c> draws one and
/// prints it, <c>CATALOG_QUERY_SEED=1234</c> replays one; <c>CATALOG_QUERY_COUNT</c> sets how many
/// queries (2,000 by default).
/// </para>
/// </summary>
[Collection(CatalogCollection.Name)]
public class DifferentialQueryTests(CatalogFixture fx, ITestOutputHelper output) : MetadataTestBase(fx)
{
    private enum Kind { Integer, Float, String, Boolean }

    /// <summary>An attribute the generator uses: where it lives, its type and the values it draws from.</summary>
    private sealed record Attr(string Name, Kind Kind, bool OnDirectories, object[] Values, bool Ordered = true);

    // Strings that are compared with < and > are plain lowercase: how the database collates text
    // with other characters is its own business; = and like see quotes, % and _ too.
    private static readonly Attr[] Attributes =
    [
        new("nEvents", Kind.Integer, false, [0m, 5m, 10m, 100m, -3m]),
        new("runLow", Kind.Integer, false, [1m, 2m, 3m, 4m]),
        new("site", Kind.String, false, ["kek", "desy", "it's", "a_b", "x%y", "ab"], Ordered: false),
        new("isMC", Kind.Boolean, false, [true, false]),
        new("experiment", Kind.Integer, true, [7m, 8m, 10m, 12m]),
        new("campaign", Kind.String, true, ["mc15", "mc16", "o'brien"], Ordered: false),
        new("luminosity", Kind.Float, true, [0.5m, 1.25m, 3m]),
    ];

    private static readonly string[] Ses = ["DIFF-A", "DIFF-B"];

    /// <summary>A file as the reference sees it: its name, size, SEs, and effective attribute values.</summary>
    private sealed record Entry(string Lfn, string Name, long Size, HashSet<string> Ses, Dictionary<string, object> Values);

    [Fact]
    public async Task Every_random_query_matches_what_the_documented_semantics_say()
    {
        var seedText = Environment.GetEnvironmentVariable("CATALOG_QUERY_SEED");
        var seed = seedText == "random" ? Random.Shared.Next() : int.TryParse(seedText, out var s) ? s : 20261205;
        var count = int.TryParse(Environment.GetEnvironmentVariable("CATALOG_QUERY_COUNT"), out var n) ? n : 2000;
        output.WriteLine($"seed {seed} (CATALOG_QUERY_SEED={seed} replays it), {count} queries");
        var random = new Random(seed);
        var (area, entries) = await BuildAsync(random);

        var matched = 0;
        for (var i = 0; i < count; i++)
        {
            var query = Or(random, depth: 3 + random.Next(2));
            var expected = entries.Where(e => Eval(query.Node, e) == true).Select(e => e.Lfn).Order(StringComparer.Ordinal).ToList();
            var actual = await Fx.Client.QueryAllAsync(new QueryRequest(query.Text, area)).Select(r => r.Path).ToListAsync();
            actual.Sort(StringComparer.Ordinal);
            if (!expected.SequenceEqual(actual))
                Assert.Fail($"seed {seed}, query {i}: {query.Text}\n" +
                            $"expected {expected.Count}, got {actual.Count}\n" +
                            $"missing: {string.Join(", ", expected.Except(actual).Take(5).Select(l => Describe(entries, l)))}\n" +
                            $"extra: {string.Join(", ", actual.Except(expected).Take(5).Select(l => Describe(entries, l)))}");
            if (expected.Count > 0) matched++;
        }
        // The generator must produce queries that match something, or the comparison proves little.
        Assert.True(matched > count / 4, $"only {matched} of {count} queries matched anything");
    }

    private static string Describe(List<Entry> entries, string lfn)
    {
        var e = entries.Single(x => x.Lfn == lfn);
        return $"{e.Name} size={e.Size} se=[{string.Join(",", e.Ses)}] {{{string.Join(", ", e.Values.Select(kv => $"{kv.Key}={Literal(kv.Value)}"))}}}";
    }

    /// <summary>Eight directories, each with a subdirectory; random directory values (one level each) and 15 files in each.</summary>
    private async Task<(string Area, List<Entry> Entries)> BuildAsync(Random random)
    {
        var area = await DeclareDomainSchemaAsync(Area("diffq"));
        foreach (var se in Ses)
            await Fx.Client.PutStorageElementAsync(se, new StorageElementSpec("DIFF", "root", $"root://{se.ToLowerInvariant()}.test:1094//belle"));
        var entries = new List<Entry>();
        var directoryAttrs = Attributes.Where(a => a.OnDirectories).ToArray();
        var fileAttrs = Attributes.Where(a => !a.OnDirectories).ToArray();
        for (var d = 0; d < 8; d++)
        {
            var top = $"{area}/d{d}";
            var topValues = Draw(random, directoryAttrs, 0.6);
            var sub = $"{top}/s";
            // An attribute is set at one level of a path only: the subdirectory draws from the rest.
            var subValues = Draw(random, directoryAttrs.Where(a => !topValues.ContainsKey(a.Name)).ToArray(), 0.5);
            await Fx.Client.MakeDirectoryAsync(sub, parents: true);
            var writes = new List<MetadataWrite>();
            if (topValues.Count > 0) writes.Add(new MetadataWrite(top, Json(topValues)));
            if (subValues.Count > 0) writes.Add(new MetadataWrite(sub, Json(subValues)));
            if (writes.Count > 0) Assert.All((await Fx.Client.SetMetadataAsync(writes)).Results, r => Assert.True(r.Ok, r.Error?.Message));
            foreach (var (dir, inherited) in new[] { (top, topValues), (sub, topValues.Concat(subValues).ToDictionary()) })
            {
                var files = new List<NewFile>();
                for (var f = 0; f < 15; f++)
                {
                    var name = $"{(char)('a' + random.Next(3))}{random.Next(100):D2}{(random.Next(4) == 0 ? "_x" : "")}.root";
                    if (files.Any(x => x.Lfn!.EndsWith("/" + name, StringComparison.Ordinal))) continue;
                    var own = Draw(random, fileAttrs, 0.6);
                    var ses = Ses.Where(_ => random.Next(2) == 0).ToHashSet();
                    var size = (long)random.Next(1, 1000);
                    files.Add(new NewFile($"{dir}/{name}", size, "0000000a", Replicas: ses.Select(x => new NewReplica(x)).ToList(), Metadata: Json(own)));
                    entries.Add(new Entry($"{dir}/{name}", name, size, ses, own.Concat(inherited).ToDictionary()));
                }
                Assert.All((await Fx.Client.RegisterAsync(files)).Results, r => Assert.Equal(ItemStatus.Created, r.Status));
            }
        }
        return (area, entries);
    }

    private static Dictionary<string, object> Draw(Random random, Attr[] attrs, double presence) =>
        attrs.Where(_ => random.NextDouble() < presence).ToDictionary(a => a.Name, a => a.Values[random.Next(a.Values.Length)]);

    private static JsonObject Json(Dictionary<string, object> values) => new(values.Select(kv => KeyValuePair.Create(kv.Key, kv.Value switch
    {
        decimal d => (JsonNode?)JsonValue.Create(d),
        bool b => JsonValue.Create(b),
        _ => JsonValue.Create((string)kv.Value),
    })));

    // ---- The reference: a syntax tree of its own, evaluated in three-valued logic. ----

    private abstract record Node;
    private sealed record AndNode(Node Left, Node Right) : Node;
    private sealed record OrNode(Node Left, Node Right) : Node;
    private sealed record NotNode(Node Inner) : Node;
    private sealed record Condition(string Attribute, string Op, object[] Values) : Node;

    private sealed record Query(Node Node, string Text);

    /// <summary>True, false, or null (unknown).</summary>
    private static bool? Eval(Node node, Entry e) => node switch
    {
        AndNode a => And(Eval(a.Left, e), Eval(a.Right, e)),
        OrNode o => Or(Eval(o.Left, e), Eval(o.Right, e)),
        NotNode n => !Eval(n.Inner, e),
        Condition p => Test(p, e),
        _ => throw new InvalidOperationException(),
    };

    private static bool? And(bool? a, bool? b) => a == false || b == false ? false : a is null || b is null ? null : true;
    private static bool? Or(bool? a, bool? b) => a == true || b == true ? true : a is null || b is null ? null : false;

    private static bool? Test(Condition p, Entry e)
    {
        if (p.Attribute == "se")
            return p.Op switch
            {
                "exists" => e.Ses.Count > 0,
                "missing" => e.Ses.Count == 0,
                "=" => e.Ses.Contains((string)p.Values[0]),
                "in" => p.Values.Any(v => e.Ses.Contains((string)v)),
                _ => throw new InvalidOperationException(p.Op),
            };
        object? value = p.Attribute switch
        {
            "name" => e.Name,
            "size" => (decimal)e.Size,
            _ => e.Values.GetValueOrDefault(p.Attribute),
        };
        if (p.Op == "exists") return value is not null;
        if (p.Op == "missing") return value is null;
        if (value is null) return null;
        return p.Op switch
        {
            "=" => Compare(value, p.Values[0]) == 0,
            "!=" or "<>" => Compare(value, p.Values[0]) != 0,
            "<" => Compare(value, p.Values[0]) < 0,
            "<=" => Compare(value, p.Values[0]) <= 0,
            ">" => Compare(value, p.Values[0]) > 0,
            ">=" => Compare(value, p.Values[0]) >= 0,
            "between" => Compare(value, p.Values[0]) >= 0 && Compare(value, p.Values[1]) <= 0,
            "in" => p.Values.Any(v => Compare(value, v) == 0),
            "not in" => p.Values.All(v => Compare(value, v) != 0),
            "like" => Like((string)value, (string)p.Values[0]),
            "not like" => !Like((string)value, (string)p.Values[0]),
            _ => throw new InvalidOperationException(p.Op),
        };
    }

    private static int Compare(object a, object b) => (a, b) switch
    {
        (decimal x, decimal y) => x.CompareTo(y),
        (bool x, bool y) => x.CompareTo(y),
        (string x, string y) => string.CompareOrdinal(x, y),
        _ => throw new InvalidOperationException($"{a} against {b}"),
    };

    /// <summary>* any run, ? one character, everything else itself (case-sensitive, whole value).</summary>
    private static bool Like(string value, string pattern)
    {
        var regex = new StringBuilder("^");
        foreach (var c in pattern) regex.Append(c switch { '*' => ".*", '?' => ".", _ => Regex.Escape(c.ToString()) });
        return Regex.IsMatch(value, regex.Append('$').ToString(), RegexOptions.Singleline);
    }

    // ---- The generator: random trees, printed in the query language. ----

    private static Query Or(Random r, int depth)
    {
        if (depth <= 0) return Leaf(r);
        return r.Next(5) switch
        {
            0 or 1 => Binary(r, depth, "and"),
            2 => Binary(r, depth, "or"),
            3 => Not(r, depth),
            _ => Binary(r, depth, r.Next(2) == 0 ? "and" : "or"),
        };
    }

    private static Query Binary(Random r, int depth, string op)
    {
        var (a, b) = (Or(r, depth - 1 - r.Next(2)), Or(r, depth - 1));
        var keyword = r.Next(3) == 0 ? op.ToUpperInvariant() : op;   // keywords are case-insensitive
        return new Query(op == "and" ? new AndNode(a.Node, b.Node) : new OrNode(a.Node, b.Node), $"({a.Text} {keyword} {b.Text})");
    }

    private static Query Not(Random r, int depth)
    {
        var inner = Or(r, depth - 1);
        return new Query(new NotNode(inner.Node), $"not ({inner.Text})");
    }

    private static Query Leaf(Random r)
    {
        var pick = r.Next(Attributes.Length + 4);
        if (pick == Attributes.Length) return SeLeaf(r);
        if (pick == Attributes.Length + 1) return NameLeaf(r);
        if (pick == Attributes.Length + 2) return Numeric(r, "size", [1m, 100m, 250m, 500m, 999m]);
        var attr = Attributes[pick % Attributes.Length];
        if (r.Next(8) == 0) return Presence(r, attr.Name);
        return attr.Kind switch
        {
            Kind.Boolean => Predicate(r.Next(2) == 0 ? "=" : "!=", attr.Name, [attr.Values[r.Next(2)]]),
            Kind.String => Text(r, attr.Name, attr.Values.Cast<string>().Append("nothere").ToArray(), attr.Ordered),
            _ => Numeric(r, attr.Name, attr.Values.Cast<decimal>().Append(9m).Append(-100m).ToArray()),
        };
    }

    private static Query Presence(Random r, string name) => Predicate(r.Next(2) == 0 ? "exists" : "missing", name, []);

    private static Query SeLeaf(Random r) => r.Next(4) switch
    {
        0 => Presence(r, "se"),
        1 => Predicate("in", "se", Ses.Append("DIFF-NONE").Where(_ => r.Next(2) == 0).DefaultIfEmpty("DIFF-A").Cast<object>().ToArray()),
        _ => Predicate("=", "se", [Ses[r.Next(Ses.Length)]]),
    };

    private static Query NameLeaf(Random r)
    {
        string[] names = ["a05.root", "b50.root", "c99_x.root", "a"];
        return r.Next(3) switch
        {
            0 => Predicate(r.Next(4) == 0 ? "not like" : "like", "name", [Pattern(r, names[r.Next(names.Length)] + "xyz")]),
            1 => Predicate(new[] { "<", "<=", ">", ">=" }[r.Next(4)], "name", [names[r.Next(names.Length)]]),
            _ => r.Next(3) == 0 ? Predicate("between", "name", ["a50.root", "b99.root"]) : Predicate("like", "name", ["?" + r.Next(10) + "*"]),
        };
    }

    private static Query Text(Random r, string name, string[] values, bool ordered)
    {
        var op = r.Next(ordered ? 7 : 6);
        return op switch
        {
            0 => Predicate("=", name, [values[r.Next(values.Length)]]),
            1 => Predicate(r.Next(2) == 0 ? "!=" : "<>", name, [values[r.Next(values.Length)]]),
            2 => Predicate("in", name, values.Where(_ => r.Next(2) == 0).DefaultIfEmpty(values[0]).Cast<object>().ToArray()),
            3 => Predicate("not in", name, values.Where(_ => r.Next(2) == 0).DefaultIfEmpty(values[0]).Cast<object>().ToArray()),
            4 => Predicate(r.Next(3) == 0 ? "not like" : "like", name, [Pattern(r, values[r.Next(values.Length)])]),
            5 => Presence(r, name),
            _ => Predicate(new[] { "<", "<=", ">", ">=" }[r.Next(4)], name, [values[r.Next(values.Length)]]),
        };
    }

    /// <summary>A like pattern from a value: some characters become ?, a tail or a head becomes *.</summary>
    private static string Pattern(Random r, string value)
    {
        var chars = value.Select(c => r.Next(5) == 0 ? '?' : c).ToArray();
        var pattern = new string(chars);
        return r.Next(4) switch
        {
            0 => pattern[..(r.Next(pattern.Length) + 1)] + "*",
            1 => "*" + pattern[r.Next(pattern.Length)..],
            2 => pattern.Length > 2 ? pattern[0] + "*" + pattern[^1] : pattern,
            _ => pattern,
        };
    }

    private static Query Numeric(Random r, string name, decimal[] values)
    {
        decimal V() => values[r.Next(values.Length)];
        return r.Next(5) switch
        {
            0 => Predicate(new[] { "=", "!=", "<>", "<", "<=", ">", ">=" }[r.Next(7)], name, [V()]),
            1 => Predicate("between", name, new[] { V(), V() }.Order().Cast<object>().ToArray()),
            2 => Predicate(r.Next(2) == 0 ? "in" : "not in", name, values.Where(_ => r.Next(2) == 0).DefaultIfEmpty(values[0]).Cast<object>().ToArray()),
            _ => Predicate(new[] { "<", ">=", "!=" }[r.Next(3)], name, [V()]),
        };
    }

    private static Query Predicate(string op, string name, object[] values)
    {
        var text = op switch
        {
            "exists" or "missing" => $"{name} {op}",
            "between" => $"{name} between {Literal(values[0])} and {Literal(values[1])}",
            "in" or "not in" => $"{name} {op} ({string.Join(", ", values.Select(Literal))})",
            "like" or "not like" => $"{name} {op} {Literal(values[0])}",
            _ => $"{name} {op} {Literal(values[0])}",
        };
        return new Query(new Condition(name, op, values), text);
    }

    private static string Literal(object value) => value switch
    {
        decimal d => d.ToString(CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        string s => "'" + s.Replace("'", "''") + "'",
        _ => throw new InvalidOperationException(),
    };
}
