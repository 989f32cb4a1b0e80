using System.Globalization;

namespace Catalog.Contracts;

/// <summary>
/// Expressions over SEs, as Rucio's RSE expressions: <c>key=value</c>, <c>key!=value</c>, numeric
/// <c>key&lt;n</c>, <c>key&gt;n</c>, <c>key&lt;=n</c>, <c>key&gt;=n</c>, a bare SE name, <c>*</c> for all;
/// combined with <c>&amp;</c> (and), <c>\</c> (and not), <c>|</c> (or; lowest) and parentheses.
/// Keys are <c>name</c>, <c>site</c>, <c>protocol</c> and the SEs' free-form attributes
/// (tier, region, ...). A key no SE carries is an error, not an empty set: a typo must not make a
/// rule over nothing. Shared by the transfer service's rules and the command line (<c>catalog
/// replicas --se</c>), so an expression means the same SEs everywhere.
/// </summary>
public static class SeExpression
{
    private static readonly string[] Implicit = ["name", "site", "protocol"];

    /// <summary>The names of the SEs <paramref name="expression"/> matches; refusals name <paramref name="field"/>.</summary>
    public static IReadOnlySet<string> Evaluate(string? expression, IReadOnlyList<StorageElement> ses, string field = "seExpression")
    {
        if (string.IsNullOrWhiteSpace(expression)) throw new SeExpressionException($"{field} is required (e.g. tier=1&region!=asia, or an SE name)", field);
        if (expression.Length > 500) throw new SeExpressionException($"{field} must be at most 500 characters", field);
        var parser = new Parser(expression, ses, field);
        var result = parser.Or();
        if (!parser.AtEnd) throw parser.Error($"unexpected '{expression[parser.Position]}'");
        return result;
    }

    private sealed class Parser(string text, IReadOnlyList<StorageElement> ses, string field)
    {
        public int Position;
        public bool AtEnd { get { Skip(); return Position >= text.Length; } }

        public SeExpressionException Error(string what) => new($"{field}: {what} at position {Position + 1} of '{text}'", field);

        private void Skip() { while (Position < text.Length && text[Position] == ' ') Position++; }
        private bool Eat(char c) { Skip(); if (Position < text.Length && text[Position] == c) { Position++; return true; } return false; }

        public HashSet<string> Or()
        {
            var left = And();
            while (Eat('|')) left.UnionWith(And());
            return left;
        }

        private HashSet<string> And()
        {
            var left = Primary();
            while (true)
            {
                if (Eat('&')) left.IntersectWith(Primary());
                else if (Eat('\\')) left.ExceptWith(Primary());
                else return left;
            }
        }

        private HashSet<string> Primary()
        {
            if (Eat('('))
            {
                var inner = Or();
                if (!Eat(')')) throw Error("missing ')'");
                return inner;
            }
            if (Eat('*')) return ses.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
            var key = Word();
            if (key.Length == 0) throw Error(AtEnd ? "an SE name or key=value is missing" : $"unexpected '{text[Position]}'");
            Skip();
            string? op = null;
            foreach (var candidate in new[] { "!=", "<=", ">=", "=", "<", ">" })
                if (string.CompareOrdinal(text, Position, candidate, 0, candidate.Length) == 0) { op = candidate; Position += candidate.Length; break; }
            if (op is null)
            {
                // A bare word is an SE name.
                if (!ses.Any(s => s.Name == key)) throw Error($"no SE is named '{key}'");
                return [key];
            }
            var value = Word();
            if (value.Length == 0) throw Error($"a value is missing after '{key}{op}'");
            if (!Implicit.Contains(key) && !ses.Any(s => s.Attributes?.ContainsKey(key) == true))
                throw Error($"no SE has the attribute '{key}' (known: {string.Join(", ", Implicit.Concat(ses.SelectMany(s => s.Attributes?.Keys ?? []).Distinct().Order(StringComparer.Ordinal)))})");
            double? number = null;
            if (op is "<" or ">" or "<=" or ">=")
            {
                if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n)) throw Error($"'{op}' needs a number, not '{value}'");
                number = n;
            }
            return ses.Where(s => Matches(s, key, op, value, number)).Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        }

        private static bool Matches(StorageElement se, string key, string op, string value, double? number)
        {
            var actual = key switch
            {
                "name" => se.Name,
                "site" => se.Site,
                "protocol" => se.Protocol,
                _ => se.Attributes is { } a && a.TryGetValue(key, out var v) ? v : null,
            };
            if (number is { } n)
                return actual is not null && double.TryParse(actual, NumberStyles.Float, CultureInfo.InvariantCulture, out var x)
                    && op switch { "<" => x < n, ">" => x > n, "<=" => x <= n, _ => x >= n };
            var equal = string.Equals(actual, value, StringComparison.Ordinal);
            return op == "=" ? equal : !equal;
        }

        private string Word()
        {
            Skip();
            var start = Position;
            while (Position < text.Length && (char.IsAsciiLetterOrDigit(text[Position]) || text[Position] is '-' or '_' or '.' or ':'))
                Position++;
            return text[start..Position];
        }
    }
}

/// <summary>An SE expression that does not parse or names what no SE has; <see cref="Field"/> is the request field it came from.</summary>
public sealed class SeExpressionException(string message, string field) : Exception(message)
{
    public string Field { get; } = field;
}
