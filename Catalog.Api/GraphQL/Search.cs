using Catalog.Api.Errors;
using Catalog.Api.Metadata;
using Catalog.Api.Security;
using Catalog.Contracts;
using GraphQL;
using GraphQL.Types;

namespace Catalog.Api.GraphQL;

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
        query.Field<QueryPageGraphType>("search")
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
                var request = new QueryRequest(c.GetArgument<string?>("query"), c.GetArgument<string?>("under"), c.GetArgument("target", QueryTarget.Files),
                    c.GetArgument<List<string>?>("attributes"), c.GetArgument<string?>("after"), c.GetArgument<int?>("first"), c.GetArgument<List<Filter>?>("filters"));
                return await CatalogQuery.S<QueryService>(c).PageAsync(request, CatalogQuery.S<Caller>(c), c.CancellationToken);
            });
    }

    public static void AddFacets(ObjectGraphType query)
    {
        query.Field<FacetResponseGraphType>("facets")
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
