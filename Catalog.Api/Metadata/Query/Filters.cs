using Catalog.Api.Errors;
using Catalog.Contracts;

namespace Catalog.Api.Metadata.Query;

/// <summary>
/// Typed filters (REST <c>filters</c>, GraphQL <c>filters</c>) become the same syntax tree the
/// parser builds, and-ed with the query text, so both share the type checker and the compiler.
/// </summary>
public static class Filters
{
    /// <summary>The tree of a query's text and filters; the text alone when there are no filters (an empty text is then refused by the parser).</summary>
    public static Node TreeOf(string? text, IReadOnlyList<Filter?>? filters)
    {
        if (filters is not { Count: > 0 }) return Parse(text);
        if (filters.Count > Parser.MaxPredicates) throw new CatalogException(ErrorCode.LimitExceeded, $"filters: at most {Parser.MaxPredicates}", "filters");
        var tree = string.IsNullOrWhiteSpace(text) ? null : Parse(text);
        for (var i = 0; i < filters.Count; i++)
        {
            var node = ToNode(filters[i] ?? throw CatalogException.Invalid($"filters[{i}]", "is required"), i);
            tree = tree is null ? node : new And(tree, node, i);
        }
        return tree!;
    }

    private static Node Parse(string? text)
    {
        try { return Parser.Parse(text); }
        catch (QueryException e) { throw e.ToCatalogException(); }
    }

    private static Node ToNode(Filter f, int i)
    {
        if (f.Attribute is null || !AttributeSchema.IsValidName(f.Attribute))
            throw CatalogException.Invalid($"filters[{i}].attribute", $"'{f.Attribute}' is not an attribute name");
        Literal One(FilterValue? v)
        {
            var set = new object?[] { v?.String, v?.Number, v?.Boolean }.Count(x => x is not null);
            if (v is null || set != 1) throw new CatalogException(ErrorCode.InvalidArgument, $"filters[{i}]: give exactly one of string, number or boolean", $"filters[{i}].value");
            return v.String is { } s ? new StringLiteral(s, i) : v.Number is { } n ? new NumberLiteral(n, i) : new BoolLiteral(v.Boolean!.Value, i);
        }
        IReadOnlyList<Literal> Many(int? exactly = null)
        {
            var values = f.Values ?? throw new CatalogException(ErrorCode.InvalidArgument, $"filters[{i}].values is required for {f.Op}", $"filters[{i}].values");
            if (values.Count == 0 || (exactly is { } n && values.Count != n) || values.Count > Parser.MaxInValues)
                throw new CatalogException(ErrorCode.InvalidArgument, $"filters[{i}].values: {(exactly is null ? $"1 to {Parser.MaxInValues}" : exactly)} values for {f.Op}", $"filters[{i}].values");
            return values.Select(One).ToList();
        }
        string Pattern() => One(f.Value) is StringLiteral s ? s.Value
            : throw new CatalogException(ErrorCode.InvalidArgument, $"filters[{i}].value: like needs a string", $"filters[{i}].value");
        return f.Op switch
        {
            FilterOp.Eq => new Compare(f.Attribute, "=", One(f.Value), i),
            FilterOp.Ne => new Compare(f.Attribute, "!=", One(f.Value), i),
            FilterOp.Lt => new Compare(f.Attribute, "<", One(f.Value), i),
            FilterOp.Le => new Compare(f.Attribute, "<=", One(f.Value), i),
            FilterOp.Gt => new Compare(f.Attribute, ">", One(f.Value), i),
            FilterOp.Ge => new Compare(f.Attribute, ">=", One(f.Value), i),
            FilterOp.Between => Many(2) is var two ? new Between(f.Attribute, two[0], two[1], i) : null!,
            FilterOp.In => new In(f.Attribute, Many(), false, i),
            FilterOp.NotIn => new In(f.Attribute, Many(), true, i),
            FilterOp.Like => new Like(f.Attribute, Pattern(), false, i),
            FilterOp.NotLike => new Like(f.Attribute, Pattern(), true, i),
            FilterOp.Exists => new Exists(f.Attribute, true, i),
            FilterOp.Missing => new Exists(f.Attribute, false, i),
            _ => throw CatalogException.Invalid($"filters[{i}].op", "is not a filter operator"),
        };
    }
}
