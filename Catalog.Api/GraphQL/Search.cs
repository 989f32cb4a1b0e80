using Catalog.Api.Errors;
using Catalog.Api.Metadata;
using Catalog.Api.Metadata.Query;
using Catalog.Api.Security;
using Catalog.Contracts;
using GraphQL;
using GraphQL.Types;

namespace Catalog.Api.GraphQL;

/// <summary>How a typed filter compares.</summary>
public enum FilterOp { Eq, Ne, Lt, Le, Gt, Ge, Between, In, NotIn, Like, NotLike, Exists, Missing }

/// <summary>One value of a typed filter: exactly one of string, number or boolean.</summary>
public sealed record FilterValue(string? String, decimal? Number, bool? Boolean);

/// <summary>One condition on one attribute; the filters of a search are and-ed.</summary>
public sealed record Filter(string Attribute, FilterOp Op, FilterValue? Value, IReadOnlyList<FilterValue>? Values);

public sealed class FilterValueInputType : InputObjectGraphType<FilterValue>
{
    public FilterValueInputType()
    {
        Name = "FilterValue";
        Description = "Exactly one of string, number or boolean.";
        Field<StringGraphType>("string").Description("Also timestamps (ISO-8601) and GUIDs.");
        Field<DecimalGraphType>("number");
        Field<BooleanGraphType>("boolean");
    }

    public override object ParseDictionary(IDictionary<string, object?> value) =>
        new FilterValue(value.Get<string>("string"), value.Get<decimal?>("number"), value.Get<bool?>("boolean"));
}

public sealed class FilterInputType : InputObjectGraphType<Filter>
{
    public FilterInputType()
    {
        Name = "Filter";
        Description = "A typed condition: the same semantics as the query language (docs/QUERY.md), without parsing text.";
        Field<NonNullGraphType<StringGraphType>>("attribute");
        Field<NonNullGraphType<EnumerationGraphType<FilterOp>>>("op");
        Field<FilterValueInputType>("value").Description("For eq, ne, lt, le, gt, ge, like, notLike.");
        Field<ListGraphType<NonNullGraphType<FilterValueInputType>>>("values").Description("Two for between; the list for in and notIn.");
    }

    public override object ParseDictionary(IDictionary<string, object?> value) =>
        new Filter(value.Get<string>("attribute")!, value.Get<FilterOp>("op"), value.Get<FilterValue>("value"),
            value.Get<IEnumerable<object>>("values")?.Cast<FilterValue>().ToList());
}

public sealed class QueryRowGraphType : ObjectGraphType<QueryRow>
{
    public QueryRowGraphType()
    {
        Name = "QueryRow";
        Field(x => x.Path).Description("The LFN (or LPN for datasets).");
        Field<StringGraphType>("attributes").Description("The chosen attributes, as a JSON object.").Resolve(c => c.Source.Attributes?.ToJsonString());
    }
}

public sealed class QueryPageGraphType : ObjectGraphType<QueryPage>
{
    public QueryPageGraphType()
    {
        Name = "QueryPage";
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<QueryRowGraphType>>>>("rows").Resolve(c => c.Source.Rows);
        Field(x => x.Next, nullable: true).Description("Pass as 'after' for the next page.");
    }
}

public sealed class FacetValueGraphType : ObjectGraphType<FacetValue>
{
    public FacetValueGraphType()
    {
        Name = "FacetValue";
        Field<StringGraphType>("value").Description("The value, as JSON.").Resolve(c => c.Source.Value?.ToJsonString());
        Field(x => x.Count);
    }
}

public sealed class FacetGraphType : ObjectGraphType<Facet>
{
    public FacetGraphType()
    {
        Name = "Facet";
        Field(x => x.Attribute);
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<FacetValueGraphType>>>>("values").Resolve(c => c.Source.Values);
    }
}

public sealed class FacetResponseGraphType : ObjectGraphType<FacetResponse>
{
    public FacetResponseGraphType()
    {
        Name = "FacetResponse";
        Field(x => x.Total);
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<FacetGraphType>>>>("facets").Resolve(c => c.Source.Facets);
    }
}

/// <summary>The metadata search of the GraphQL door: the query language, typed filters, or both (and-ed).</summary>
public static class SearchFields
{
    public static void Add(ObjectGraphType query)
    {
        query.Field<NonNullGraphType<QueryPageGraphType>>("search")
            .Description("Files or datasets under a path (or a collection) matching a query and/or typed filters.")
            .Argument<StringGraphType>("under")
            .Argument<EnumerationGraphType<QueryTarget>>("target")
            .Argument<StringGraphType>("query", "A condition in the query language.")
            .Argument<ListGraphType<NonNullGraphType<FilterInputType>>>("filters", "Typed conditions, and-ed.")
            .Argument<ListGraphType<NonNullGraphType<StringGraphType>>>("attributes", "Attributes to return (selectattr).")
            .Argument<IntGraphType>("first")
            .Argument<StringGraphType>("after")
            .ResolveAsync(async c =>
            {
                var (request, tree) = Build(c, c.GetArgument<List<string>?>("attributes"), c.GetArgument<int?>("first"), c.GetArgument<string?>("after"));
                return await CatalogQuery.S<QueryService>(c).PageAsync(request, CatalogQuery.S<Caller>(c), c.CancellationToken, tree);
            });
    }

    private static (QueryRequest Request, Node Tree) Build(IResolveFieldContext c, List<string>? attributes, int? first, string? after)
    {
        var text = c.GetArgument<string?>("query");
        var filters = c.GetArgument<List<Filter>?>("filters") ?? [];
        if (string.IsNullOrWhiteSpace(text) && filters.Count == 0) throw CatalogException.Invalid("query", "give a query, filters, or both");
        if (filters.Count > Parser.MaxPredicates) throw new CatalogException(ErrorCode.LimitExceeded, $"filters: at most {Parser.MaxPredicates}", "filters");
        Node? tree = null;
        try
        {
            if (!string.IsNullOrWhiteSpace(text)) tree = Parser.Parse(text);
            for (var i = 0; i < filters.Count; i++)
            {
                var node = ToNode(filters[i], i);
                tree = tree is null ? node : new And(tree, node, i);
            }
        }
        catch (QueryException e) { throw new CatalogException(ErrorCode.InvalidArgument, $"query: position {e.Position}: {e.Reason}", "query"); }
        return (new QueryRequest(text, c.GetArgument<string?>("under"), c.GetArgument("target", QueryTarget.Files), attributes, after, first), tree!);
    }

    /// <summary>A filter becomes the same syntax tree the parser builds, so both paths share the type checker.</summary>
    private static Node ToNode(Filter f, int i)
    {
        if (!AttributeSchema.IsValidName(f.Attribute)) throw new CatalogException(ErrorCode.InvalidArgument, $"filters[{i}].attribute: '{f.Attribute}' is not an attribute name", $"filters[{i}].attribute");
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
            _ => new Exists(f.Attribute, false, i),
        };
    }

    public static void AddFacets(ObjectGraphType query)
    {
        query.Field<NonNullGraphType<FacetResponseGraphType>>("facets")
            .Description("Distinct values with counts of chosen attributes over a query's matches.")
            .Argument<StringGraphType>("under")
            .Argument<EnumerationGraphType<QueryTarget>>("target")
            .Argument<StringGraphType>("query")
            .Argument<NonNullGraphType<ListGraphType<NonNullGraphType<StringGraphType>>>>("attributes")
            .Argument<IntGraphType>("limit")
            .ResolveAsync(async c => await CatalogQuery.S<QueryService>(c).FacetsAsync(new FacetRequest(c.GetArgument<string?>("query"),
                c.GetArgument<string?>("under"), c.GetArgument<List<string>>("attributes"), c.GetArgument("target", QueryTarget.Files),
                c.GetArgument<int?>("limit")), CatalogQuery.S<Caller>(c), c.CancellationToken));
    }
}
