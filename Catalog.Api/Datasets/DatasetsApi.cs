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
                bool? expired, DatasetService s, Caller caller, CancellationToken ct) =>
                s.ListAsync(under, after, limit, caller, ct, new DatasetWindow(minFiles, maxFiles, createdAfter, createdBefore, expired == true)))
            .WithName("ListDatasets").WithSummary("List datasets")
            .WithDescription("Datasets at or below a path, by path (pass the last path as after), with their length, creation time, state and lifetime; minFiles/maxFiles and createdAfter/createdBefore pick windows; expired=true those flagged for deletion.")
            .ProducesProblem(400);
        datasets.MapPost("/close", (DatasetPathRequest request, DatasetService s, Caller caller, CancellationToken ct) => s.CloseAsync(request, caller, ct))
            .WithName("CloseDataset").WithSummary("Close dataset")
            .WithDescription("No more files go into it; only closed datasets go into collections (its writers or a data manager).").ProducesProblem(404);
        datasets.MapPost("/reopen", (DatasetPathRequest request, DatasetService s, Caller caller, CancellationToken ct) => s.ReopenAsync(request, caller, ct))
            .WithName("ReopenDataset").WithSummary("Reopen dataset")
            .WithDescription("Lets files into a closed dataset again (data managers).").ProducesProblem(403).ProducesProblem(404);
        datasets.MapPost("/lifetime", (DatasetLifetimeRequest request, DatasetService s, Caller caller, CancellationToken ct) => s.SetLifetimeAsync(request, caller, ct))
            .WithName("SetDatasetLifetime").WithSummary("Set dataset lifetime")
            .WithDescription("After expires the dataset is flagged for deletion (listed with expired=true); null clears it.").ProducesProblem(404);
        datasets.MapGet("/info", (string? path, DatasetService s, Caller caller, CancellationToken ct) => s.InfoAsync(path, caller, ct))
            .WithName("GetDataset").WithSummary("Get dataset")
            .WithDescription("A dataset's own metadata, datablock size and current datablock.");
        datasets.MapGet("/summary", (string? path, DatasetService s, Caller caller, CancellationToken ct) => s.SummaryAsync(path, caller, ct))
            .WithName("GetDatasetSummary").WithSummary("Get dataset summary")
            .WithDescription("Files, bytes, events, experiment and run ranges, datablocks, and per SE the files with an available replica there.");
        return app;
    }
}
