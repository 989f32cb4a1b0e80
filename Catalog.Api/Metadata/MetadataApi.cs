using Catalog.Api.Datasets;
using Catalog.Api.Security;
using Catalog.Contracts;

namespace Catalog.Api.Metadata;

public static class MetadataApi
{
    public static IEndpointRouteBuilder MapMetadataApi(this IEndpointRouteBuilder app)
    {
        var schema = app.MapGroup("/api/v1/schema").WithTags("Metadata");
        schema.MapPost("/", (AttributeSpec spec, SchemaService s, Caller caller, CancellationToken ct) => s.DeclareAsync(spec, caller, ct))
            .WithName("DeclareAttribute").WithSummary("Declares a typed attribute on a directory for its whole subtree (admin). Rewrites no rows.")
            .ProducesProblem(400).ProducesProblem(409);
        schema.MapGet("/", (string? path, SchemaService s, Caller caller, CancellationToken ct) => s.InForceAsync(path, caller, ct))
            .WithName("GetSchema").WithSummary("The attributes in force at a path (declared on it or an ancestor) and its policy.");
        schema.MapDelete("/", (string? path, string? name, SchemaService s, Caller caller, CancellationToken ct) => s.RemoveAsync(path, name, caller, ct))
            .WithName("RemoveAttribute").WithSummary("Removes a declaration made at a path, once no entry carries the attribute (admin).")
            .ProducesProblem(404).ProducesProblem(409);
        schema.MapPut("/policy", (PolicyRequest request, SchemaService s, Caller caller, CancellationToken ct) => s.SetPolicyAsync(request, caller, ct))
            .WithName("SetMetadataPolicy").WithSummary("Makes a subtree permissive (undeclared attributes allowed) or strict (admin).");

        var meta = app.MapGroup("/api/v1/metadata").WithTags("Metadata");
        meta.MapPost("/", (MetadataWriteRequest request, MetadataService s, Caller caller, CancellationToken ct) => s.WriteAsync(request, caller, ct))
            .WithName("WriteMetadata").WithSummary("Sets (or, with null, removes) values on files and directories, up to Catalog:MaxBatchSize per call, per item.");
        meta.MapPost("/get", (MetadataReadRequest request, MetadataService s, Caller caller, CancellationToken ct) => s.ReadAsync(request, caller, ct))
            .WithName("ReadMetadata").WithSummary("Own and effective (inherited) values of files and directories, per item; unknown paths are reported, not fatal.");

        var query = app.MapGroup("/api/v1").WithTags("Metadata");
        query.MapPost("/query", (QueryRequest request, QueryService s, Caller caller, CancellationToken ct) => s.PageAsync(request, caller, ct))
            .WithName("Query").WithSummary("One page of files or datasets matching a query (docs/QUERY.md), with the chosen attributes.")
            .ProducesProblem(400);
        query.MapPost("/query/stream", async (QueryRequest request, QueryService s, Caller caller, CancellationToken ct) =>
            {
                await s.ValidateAsync(request, caller, ct); // a bad query is a 400 before the stream starts
                return s.StreamAsync(request, caller, ct);
            })
            .WithName("QueryStream").WithSummary("Every match of a query, streamed as a JSON array.").ProducesProblem(400);
        query.MapPost("/query/explain", (QueryRequest request, bool? seqscan, QueryService s, Caller caller, CancellationToken ct) =>
                s.ExplainAsync(request, seqscan ?? false, caller, ct))
            .WithName("ExplainQuery").WithSummary("EXPLAIN ANALYZE of the SQL a query compiles to; seqscan=true disables index scans for comparison (admin).");
        query.MapPost("/facets/explain", (FacetRequest request, bool? seqscan, QueryService s, Caller caller, CancellationToken ct) =>
                s.ExplainFacetsAsync(request, seqscan ?? false, caller, ct))
            .WithName("ExplainFacets").WithSummary("EXPLAIN ANALYZE of a facet request's SQL; seqscan=true disables index scans (admin).");
        query.MapPost("/facets", (FacetRequest request, QueryService s, Caller caller, CancellationToken ct) => s.FacetsAsync(request, caller, ct))
            .WithName("Facets").WithSummary("Distinct values with counts of chosen attributes over a query's matches.").ProducesProblem(400);

        var datasets = app.MapGroup("/api/v1/datasets").WithTags("Datasets");
        datasets.MapPost("/", (DatasetRequest request, DatasetService s, Caller caller, CancellationToken ct) => s.CreateAsync(request, caller, ct))
            .WithName("CreateDataset").WithSummary("Marks a directory (created if needed) as a dataset, with its own metadata and datablock size.");
        datasets.MapGet("/", (string? under, string? after, int? limit, DatasetService s, Caller caller, CancellationToken ct) => s.ListAsync(under, after, limit, caller, ct))
            .WithName("ListDatasets").WithSummary("Datasets at or below a path, by path (pass the last path as after).");
        datasets.MapGet("/info", (string? path, DatasetService s, Caller caller, CancellationToken ct) => s.InfoAsync(path, caller, ct))
            .WithName("GetDataset");
        datasets.MapGet("/summary", (string? path, DatasetService s, Caller caller, CancellationToken ct) => s.SummaryAsync(path, caller, ct))
            .WithName("GetDatasetSummary").WithSummary("Files, bytes, events, experiment and run ranges, datablocks, and files with a replica per SE.");

        var collections = app.MapGroup("/api/v1/collections").WithTags("Datasets");
        collections.MapPost("/", (CollectionRequest request, CollectionService s, Caller caller, CancellationToken ct) => s.CreateAsync(request, caller, ct))
            .WithName("CreateCollection").WithSummary("Creates a frozen collection of datasets or collections, whole or not at all.").ProducesProblem(409);
        collections.MapGet("/", (string? under, CollectionService s, Caller caller, CancellationToken ct) => s.ListAsync(under, caller, ct))
            .WithName("ListCollections");
        collections.MapGet("/info", (string? path, CollectionService s, Caller caller, CancellationToken ct) => s.GetAsync(path, caller, ct))
            .WithName("GetCollection");
        collections.MapGet("/files", (string? path, string? after, int? limit, QueryService s, Caller caller, CancellationToken ct) =>
                s.PageAsync(new QueryRequest(null, path, QueryTarget.Files, ["size", "guid"], after, limit), caller, ct, new QueryService.Everything()))
            .WithName("ListCollectionFiles").WithSummary("The files of a collection's datasets, paged (query them with /query and under = the collection).");

        app.MapGet("/api/v1/lineage", (string? lfn, LineageDirection? direction, int? depth, LineageService s, Caller caller, CancellationToken ct) =>
                s.WalkAsync(lfn, direction ?? LineageDirection.Ancestors, depth, caller, ct))
            .WithTags("Datasets").WithName("Lineage").WithSummary("Ancestors or descendants of a file to a given depth (parents recorded at registration).");
        return app;
    }
}
