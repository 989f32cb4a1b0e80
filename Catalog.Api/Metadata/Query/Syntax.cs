using System.Globalization;
using System.Text;

namespace Catalog.Api.Metadata.Query;

/// <summary>A query the parser or the type checker refused: where and why.</summary>
public sealed class QueryException(int position, string reason) : Exception($"position {position}: {reason}")
{
    public int Position { get; } = position;
    public string Reason { get; } = reason;

    /// <summary>The refusal every door answers for this error: the position and the rule, on field <c>query</c>.</summary>
    public Errors.CatalogException ToCatalogException() =>
        new(Contracts.ErrorCode.InvalidArgument, $"query: position {Position}: {Reason}", "query");
}

public enum TokenKind { Identifier, String, Number, LParen, RParen, Comma, Operator, End }

public readonly record struct Token(TokenKind Kind, string Text, int Position);

/// <summary>The syntax tree.</summary>
public abstract record Node(int Position);
public sealed record And(Node Left, Node Right, int Pos) : Node(Pos);
public sealed record Or(Node Left, Node Right, int Pos) : Node(Pos);
public sealed record Not(Node Operand, int Pos) : Node(Pos);
public abstract record Literal(int Pos) : Node(Pos);
public sealed record StringLiteral(string Value, int Pos) : Literal(Pos);
public sealed record NumberLiteral(decimal Value, int Pos) : Literal(Pos);
public sealed record BoolLiteral(bool Value, int Pos) : Literal(Pos);
public sealed record Compare(string Attribute, string Op, Literal Value, int Pos) : Node(Pos);
public sealed record Between(string Attribute, Literal Low, Literal High, int Pos) : Node(Pos);
public sealed record In(string Attribute, IReadOnlyList<Literal> Values, bool Negated, int Pos) : Node(Pos);
public sealed record Like(string Attribute, string Pattern, bool Negated, int Pos) : Node(Pos);
public sealed record Exists(string Attribute, bool Present, int Pos) : Node(Pos);

/// <summary>
/// The query language, hand-parsed by recursive descent with hard limits, so no input (quotes,
/// comments, semicolons, look-alike characters, a million-item list, ten thousand parentheses)
/// can do more than be refused with its position:
/// <code>
/// query     := or END
/// or        := and ('or' and)*
/// and       := unary ('and' unary)*
/// unary     := 'not' unary | '(' or ')' | predicate
/// predicate := NAME op literal | NAME 'between' literal 'and' literal
///            | NAME ['not'] 'in' '(' literal (',' literal)* ')' | NAME ['not'] 'like' STRING
///            | NAME 'exists' | NAME 'missing'
/// op        := '=' | '!=' | '&lt;&gt;' | '&lt;' | '&lt;=' | '&gt;' | '&gt;='
/// literal   := STRING ('...' with '' for a quote) | NUMBER | 'true' | 'false'
/// </code>
/// </summary>
public sealed class Parser
{
    public const int MaxLength = 16_384;
    public const int MaxDepth = 32;
    public const int MaxInValues = 1_000;
    public const int MaxPredicates = 100;

    private static readonly HashSet<string> Keywords = new(StringComparer.OrdinalIgnoreCase)
        { "and", "or", "not", "between", "in", "like", "exists", "missing", "true", "false" };

    private readonly List<Token> _tokens;
    private int _next;
    private int _depth;
    private int _predicates;

    private Parser(List<Token> tokens) => _tokens = tokens;

    public static Node Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new QueryException(0, "the query is empty");
        if (text.Length > MaxLength) throw new QueryException(MaxLength, $"the query is longer than {MaxLength} characters");
        var parser = new Parser(Lex(text));
        var node = parser.ParseOr();
        var end = parser.Peek();
        if (end.Kind != TokenKind.End) throw new QueryException(end.Position, $"unexpected '{end.Text}' (expected 'and', 'or' or the end)");
        return node;
    }

    private static List<Token> Lex(string text)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (c is ' ' or '\t' or '\r' or '\n') { i++; continue; }
            var start = i;
            if (char.IsAsciiLetter(c))
            {
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_')) i++;
                tokens.Add(new Token(TokenKind.Identifier, text[start..i], start));
            }
            else if (char.IsAsciiDigit(c) || (c is '-' or '+' or '.' && i + 1 < text.Length && (char.IsAsciiDigit(text[i + 1]) || text[i + 1] == '.')))
            {
                i++;
                while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] is '.' or 'e' or 'E'
                       || (text[i] is '-' or '+' && text[i - 1] is 'e' or 'E'))) i++;
                var number = text[start..i];
                if (!decimal.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                    throw new QueryException(start, $"'{number}' is not a number");
                tokens.Add(new Token(TokenKind.Number, number, start));
            }
            else if (c == '\'')
            {
                var value = new StringBuilder();
                i++;
                while (true)
                {
                    if (i >= text.Length) throw new QueryException(start, "unterminated string (a quote inside a string is written '')");
                    if (text[i] == '\'')
                    {
                        if (i + 1 < text.Length && text[i + 1] == '\'') { value.Append('\''); i += 2; continue; }
                        i++;
                        break;
                    }
                    if (char.IsControl(text[i])) throw new QueryException(i, "control characters are not allowed in strings");
                    value.Append(text[i++]);
                }
                tokens.Add(new Token(TokenKind.String, value.ToString(), start));
            }
            else if (c == '(') { tokens.Add(new Token(TokenKind.LParen, "(", i++)); }
            else if (c == ')') { tokens.Add(new Token(TokenKind.RParen, ")", i++)); }
            else if (c == ',') { tokens.Add(new Token(TokenKind.Comma, ",", i++)); }
            else if (c is '=' or '<' or '>' or '!')
            {
                var two = i + 1 < text.Length ? text.Substring(i, 2) : "";
                var op = two is "!=" or "<>" or "<=" or ">=" ? two : c == '!' ? null : c.ToString();
                if (op is null) throw new QueryException(i, "'!' must be followed by '=' ");
                tokens.Add(new Token(TokenKind.Operator, op, i));
                i += op.Length;
            }
            else
            {
                throw new QueryException(i, c > 127
                    ? $"character U+{(int)c:X4} is not allowed outside strings (names and operators are ASCII)"
                    : $"unexpected character '{c}'");
            }
        }
        tokens.Add(new Token(TokenKind.End, "end of query", text.Length));
        return tokens;
    }

    private Token Peek() => _tokens[_next];
    private Token Take() => _tokens[_next++];
    private bool IsWord(string word) => Peek() is { Kind: TokenKind.Identifier } t && t.Text.Equals(word, StringComparison.OrdinalIgnoreCase);

    private Node ParseOr()
    {
        var left = ParseAnd();
        while (IsWord("or")) { var op = Take(); left = new Or(left, ParseAnd(), op.Position); }
        return left;
    }

    private Node ParseAnd()
    {
        var left = ParseUnary();
        while (IsWord("and")) { var op = Take(); left = new And(left, ParseUnary(), op.Position); }
        return left;
    }

    private Node ParseUnary()
    {
        var token = Peek();
        if (++_depth > MaxDepth) throw new QueryException(token.Position, $"nested deeper than {MaxDepth} levels");
        try
        {
            if (IsWord("not")) { Take(); return new Not(ParseUnary(), token.Position); }
            if (token.Kind == TokenKind.LParen)
            {
                Take();
                var inner = ParseOr();
                var close = Take();
                if (close.Kind != TokenKind.RParen) throw new QueryException(close.Position, $"expected ')' to close the '(' at position {token.Position}, found '{close.Text}'");
                return inner;
            }
            return ParsePredicate();
        }
        finally { _depth--; }
    }

    private Node ParsePredicate()
    {
        var name = Take();
        if (name.Kind != TokenKind.Identifier || Keywords.Contains(name.Text))
            throw new QueryException(name.Position, $"expected an attribute name, found '{name.Text}'");
        if (++_predicates > MaxPredicates) throw new QueryException(name.Position, $"more than {MaxPredicates} conditions");
        var next = Take();
        if (next.Kind == TokenKind.Operator) return new Compare(name.Text, next.Text == "<>" ? "!=" : next.Text, ParseLiteral(), name.Position);
        if (next.Kind != TokenKind.Identifier)
            throw new QueryException(next.Position, $"expected an operator after '{name.Text}', found '{next.Text}'");
        switch (next.Text.ToLowerInvariant())
        {
            case "between":
                var low = ParseLiteral();
                var and = Take();
                if (and.Kind != TokenKind.Identifier || !and.Text.Equals("and", StringComparison.OrdinalIgnoreCase))
                    throw new QueryException(and.Position, $"expected 'and' in 'between ... and ...', found '{and.Text}'");
                return new Between(name.Text, low, ParseLiteral(), name.Position);
            case "exists": return new Exists(name.Text, true, name.Position);
            case "missing": return new Exists(name.Text, false, name.Position);
            case "in": return ParseIn(name, negated: false);
            case "like": return ParseLike(name, negated: false);
            case "not":
                var what = Take();
                if (what.Kind == TokenKind.Identifier && what.Text.Equals("in", StringComparison.OrdinalIgnoreCase)) return ParseIn(name, negated: true);
                if (what.Kind == TokenKind.Identifier && what.Text.Equals("like", StringComparison.OrdinalIgnoreCase)) return ParseLike(name, negated: true);
                throw new QueryException(what.Position, $"expected 'in' or 'like' after 'not', found '{what.Text}'");
            default:
                throw new QueryException(next.Position, $"unknown operator '{next.Text}' (use =, !=, <, <=, >, >=, between, in, like, exists or missing)");
        }
    }

    private In ParseIn(Token name, bool negated)
    {
        var open = Take();
        if (open.Kind != TokenKind.LParen) throw new QueryException(open.Position, $"expected '(' after 'in', found '{open.Text}'");
        var values = new List<Literal>();
        while (true)
        {
            if (values.Count == MaxInValues) throw new QueryException(Peek().Position, $"an 'in' list may hold at most {MaxInValues} values");
            values.Add(ParseLiteral());
            var sep = Take();
            if (sep.Kind == TokenKind.RParen) break;
            if (sep.Kind != TokenKind.Comma) throw new QueryException(sep.Position, $"expected ',' or ')' in the 'in' list, found '{sep.Text}'");
        }
        return new In(name.Text, values, negated, name.Position);
    }

    private Like ParseLike(Token name, bool negated)
    {
        var pattern = Take();
        if (pattern.Kind != TokenKind.String) throw new QueryException(pattern.Position, $"expected a quoted pattern after 'like', found '{pattern.Text}'");
        return new Like(name.Text, pattern.Text, negated, name.Position);
    }

    private Literal ParseLiteral()
    {
        var token = Take();
        return token.Kind switch
        {
            TokenKind.String => new StringLiteral(token.Text, token.Position),
            TokenKind.Number => new NumberLiteral(decimal.Parse(token.Text, NumberStyles.Float, CultureInfo.InvariantCulture), token.Position),
            TokenKind.Identifier when token.Text.Equals("true", StringComparison.OrdinalIgnoreCase) => new BoolLiteral(true, token.Position),
            TokenKind.Identifier when token.Text.Equals("false", StringComparison.OrdinalIgnoreCase) => new BoolLiteral(false, token.Position),
            _ => throw new QueryException(token.Position, $"expected a value ('text', a number, true or false), found '{token.Text}'"),
        };
    }
}
