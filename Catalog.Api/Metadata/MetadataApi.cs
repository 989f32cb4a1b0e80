using Catalog.Storage;
using Catalog.Api.Security;
using Catalog.Contracts;

namespace Catalog.Api.Metadata;

public static class MetadataApi
{
    public static IEndpointRouteBuilder MapMetadataApi(this IEndpointRouteBuilder app)
    {
        var schema = app.MapGroup("/api/v1/schema").WithTags("Metadata");
        schema.MapPost("/", (AttributeSpec spec, SchemaService s, Caller caller, CancellationToken ct) => s.DeclareAsync(spec, caller, ct))
            .WithName("DeclareAttribute").WithSummary("Declare an attribute")
            .WithDescription("Declares a typed attribute on a directory for its whole subtree (admin). Rewrites no rows.")
            .ProducesProblem(400).ProducesProblem(409);
        schema.MapGet("/", (string? path, SchemaService s, Caller caller, CancellationToken ct) => s.InForceAsync(path, caller, ct))
            .WithName("GetSchema").WithSummary("Schema in force")
            .WithDescription("The attributes in force at a path (declared on it or an ancestor) and its policy.");
        schema.MapDelete("/", (string? path, string? name, SchemaService s, Caller caller, CancellationToken ct) => s.RemoveAsync(path, name, caller, ct))
            .WithName("RemoveAttribute").WithSummary("Remove an attribute")
            .WithDescription("Removes a declaration made at a path, once no entry carries the attribute (admin).")
            .ProducesProblem(404).ProducesProblem(409);
        schema.MapPost("/allowed", (AllowedValuesRequest request, SchemaService s, Caller caller, CancellationToken ct) => s.ExtendAllowedAsync(request, caller, ct))
            .WithName("ExtendAllowedValues").WithSummary("Add allowed values")
            .WithDescription("Adds values to the allowed list of a declaration made at a path (admin); values are only ever added, so nothing stored is rechecked.")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);
        schema.MapPut("/policy", (PolicyRequest request, SchemaService s, Caller caller, CancellationToken ct) => s.SetPolicyAsync(request, caller, ct))
            .WithName("SetMetadataPolicy").WithSummary("Set the metadata policy")
            .WithDescription("Makes a subtree permissive (undeclared attributes allowed) or strict (admin).");

        var meta = app.MapGroup("/api/v1/metadata").WithTags("Metadata");
        meta.MapPost("/", (MetadataWriteRequest request, MetadataService s, Caller caller, CancellationToken ct) => s.WriteAsync(request, caller, ct))
            .WithName("WriteMetadata").WithSummary("Write metadata")
            .WithDescription("Sets (or, with null, removes) values on files and directories, up to Catalog:MaxBatchSize per call, per item.");
        meta.MapPost("/get", (MetadataReadRequest request, MetadataService s, Caller caller, CancellationToken ct) => s.ReadAsync(request, caller, ct))
            .WithName("ReadMetadata").WithSummary("Read metadata")
            .WithDescription("Own and effective (inherited) values of files and directories, per item; unknown paths are reported, not fatal.").ReadOnly();

        var query = app.MapGroup("/api/v1").WithTags("Metadata");
        query.MapPost("/query", (QueryRequest request, QueryService s, Caller caller, CancellationToken ct) => s.PageAsync(request, caller, ct))
            .WithName("Query").WithSummary("Query files")
            .WithDescription("One page of files or datasets matching a query (docs/QUERY.md), with the chosen attributes.")
            .ProducesProblem(400).ReadOnly();
        query.MapPost("/query/stream", async (QueryRequest request, QueryService s, Caller caller, CancellationToken ct) =>
            {
                await s.ValidateAsync(request, caller, ct); // a bad query is a 400 before the stream starts
                return new Http.JsonArrayStream<QueryMatch>(s.StreamAsync(request, caller, ct), QueryService.WriteRow);
            })
            .Produces<IAsyncEnumerable<QueryRow>>(200, "application/json")
            .WithName("QueryStream").WithSummary("Query files (stream)")
            .WithDescription("Every match of a query, streamed as a JSON array.").ProducesProblem(400).ReadOnly();
        query.MapPost("/query/explain", (QueryRequest request, bool? seqscan, QueryService s, Caller caller, CancellationToken ct) =>
                s.ExplainAsync(request, seqscan ?? false, caller, ct))
            .WithName("ExplainQuery").WithSummary("Explain a query")
            .WithDescription("EXPLAIN ANALYZE of the SQL a query compiles to; seqscan=true disables index scans for comparison (admin).").ReadOnly();
        query.MapPost("/facets/explain", (FacetRequest request, bool? seqscan, QueryService s, Caller caller, CancellationToken ct) =>
                s.ExplainFacetsAsync(request, seqscan ?? false, caller, ct))
            .WithName("ExplainFacets").WithSummary("Explain a facet count")
            .WithDescription("EXPLAIN ANALYZE of a facet request's SQL; seqscan=true disables index scans (admin).").ReadOnly();
        query.MapPost("/facets", (FacetRequest request, QueryService s, Caller caller, CancellationToken ct) => s.FacetsAsync(request, caller, ct))
            .WithName("Facets").WithSummary("Count values (facets)")
            .WithDescription("Distinct values with counts of chosen attributes over a query's matches.").ProducesProblem(400).ReadOnly();

        return app;
    }
}
