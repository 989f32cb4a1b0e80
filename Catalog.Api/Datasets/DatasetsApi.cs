using Catalog.Storage;
using Catalog.Api.Security;
using Catalog.Contracts;

namespace Catalog.Api.Datasets;

public static class DatasetsApi
{
    public static IEndpointRouteBuilder MapDatasetsApi(this IEndpointRouteBuilder app)
    {
        var datasets = app.MapGroup("/api/v1/datasets").WithTags("Datasets");
        datasets.MapPost("/", (DatasetRequest request, DatasetService s, Caller caller, CancellationToken ct) => s.CreateAsync(request, caller, ct))
            .WithName("CreateDataset").WithSummary("Create dataset")
            .WithDescription("Marks a directory (created if needed) as a dataset, with its own metadata and datablock size.");
        datasets.MapGet("/", (string? under, string? after, int? limit, long? minFiles, long? maxFiles, DateTimeOffset? createdAfter, DateTimeOffset? createdBefore,
                DatasetService s, Caller caller, CancellationToken ct) =>
                s.ListAsync(under, after, limit, caller, ct, new DatasetWindow(minFiles, maxFiles, createdAfter, createdBefore)))
            .WithName("ListDatasets").WithSummary("List datasets")
            .WithDescription("Datasets at or below a path, by path (pass the last path as after), with their length and creation time; minFiles/maxFiles and createdAfter/createdBefore pick windows of both.")
            .ProducesProblem(400);
        datasets.MapGet("/info", (string? path, DatasetService s, Caller caller, CancellationToken ct) => s.InfoAsync(path, caller, ct))
            .WithName("GetDataset").WithSummary("Get dataset")
            .WithDescription("A dataset's own metadata, datablock size and current datablock.");
        datasets.MapGet("/summary", (string? path, DatasetService s, Caller caller, CancellationToken ct) => s.SummaryAsync(path, caller, ct))
            .WithName("GetDatasetSummary").WithSummary("Get dataset summary")
            .WithDescription("Files, bytes, events, experiment and run ranges, datablocks, and per SE the files with an available replica there.");
        return app;
    }
}
