using Catalog.Api.Metadata;
using Catalog.Api.Security;
using Catalog.Contracts;

namespace Catalog.Api.Datasets;

public static class CollectionsApi
{
    public static IEndpointRouteBuilder MapCollectionsApi(this IEndpointRouteBuilder app)
    {
        var collections = app.MapGroup("/api/v1/collections").WithTags("Datasets");
        collections.MapPost("/", (CollectionRequest request, CollectionService s, Caller caller, CancellationToken ct) => s.CreateAsync(request, caller, ct))
            .WithName("CreateCollection").WithSummary("Create collection")
            .WithDescription("Creates a frozen collection of datasets or collections, whole or not at all.").ProducesProblem(409);
        collections.MapGet("/", (string? under, CollectionService s, Caller caller, CancellationToken ct) => s.ListAsync(under, caller, ct))
            .WithName("ListCollections").WithSummary("List collections")
            .WithDescription("Collections at or below a path, with their members.");
        collections.MapGet("/info", (string? path, CollectionService s, Caller caller, CancellationToken ct) => s.GetAsync(path, caller, ct))
            .WithName("GetCollection").WithSummary("Get collection")
            .WithDescription("A collection's members, metadata and creation time.");
        collections.MapGet("/summary", (string? path, CollectionService s, Caller caller, CancellationToken ct) => s.SummaryAsync(path, caller, ct))
            .WithName("GetCollectionSummary").WithSummary("Get collection summary")
            .WithDescription("Datasets, files, bytes, events, experiment and run ranges, datablocks, and per SE the files with an available replica there, over the datasets the collection holds.");
        collections.MapGet("/files", (string? path, string? after, int? limit, QueryService s, Caller caller, CancellationToken ct) =>
                s.PageAsync(new QueryRequest(null, path, QueryTarget.Files, ["size", "guid"], after, limit), caller, ct, new QueryService.Everything()))
            .WithName("ListCollectionFiles").WithSummary("List collection files")
            .WithDescription("The files of a collection's datasets, paged (query them with /query and under = the collection).");
        return app;
    }
}
