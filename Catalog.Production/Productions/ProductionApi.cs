using Catalog.Modules;
using Catalog.Contracts;

namespace Catalog.Production.Productions;

/// <summary>The production service's REST API: one hop from <see cref="ProductionService"/>.</summary>
public static class ProductionApi
{
    public static IEndpointRouteBuilder MapProductionApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/productions").WithTags("productions");

        api.MapPost("", async (ProductionSpec? spec, HttpContext http, CallerIdentity identity, ProductionService service, CancellationToken ct) =>
        {
            var who = await identity.RequireAsync(http, spec?.OutputDataset is { Length: > 0 } d ? d : "/");
            var created = await service.CreateAsync(spec, who.Subject, ct);
            return Results.Created($"/api/v1/productions/{created.Name}", created);
        }).WithSummary("Define a production: checked against the catalog, planned into jobs, submitted by the service");

        api.MapGet("", async (HttpContext http, CallerIdentity identity, ProductionService service, CancellationToken ct) =>
        {
            await identity.RequireAsync(http);
            return await service.ListAsync(ct);
        }).WithSummary("List productions");

        api.MapGet("/{name}", async (string name, HttpContext http, CallerIdentity identity, ProductionService service, CancellationToken ct) =>
        {
            await identity.RequireAsync(http);
            return (await service.GetAsync(name, ct)).ToInfo();
        }).WithSummary("A production's definition and state");

        api.MapGet("/{name}/status", async (string name, HttpContext http, CallerIdentity identity, ProductionService service, CancellationToken ct) =>
        {
            await identity.RequireAsync(http);
            return await service.StatusAsync(name, ct);
        }).WithSummary("Jobs by state and site, failures by class");

        api.MapGet("/{name}/jobs", async (string name, JobState? state, int? after, int? limit, HttpContext http, CallerIdentity identity,
            ProductionService service, CancellationToken ct) =>
        {
            await identity.RequireAsync(http);
            return await service.JobsAsync(name, state, after, limit, ct);
        }).WithSummary("A page of jobs in index order (optionally in one state)");

        api.MapPost("/{name}/pause", (string name, HttpContext http, CallerIdentity identity, ProductionService service, CancellationToken ct) =>
            Control(name, http, identity, service, ct, () => service.SetStateAsync(name, ProductionState.Paused, ct))).WithSummary("Stop submitting its jobs");
        api.MapPost("/{name}/resume", (string name, HttpContext http, CallerIdentity identity, ProductionService service, CancellationToken ct) =>
            Control(name, http, identity, service, ct, () => service.SetStateAsync(name, ProductionState.Active, ct))).WithSummary("Submit its jobs again");
        api.MapPost("/{name}/kill", (string name, HttpContext http, CallerIdentity identity, ProductionService service, CancellationToken ct) =>
            Control(name, http, identity, service, ct, () => service.KillAsync(name, ct))).WithSummary("Kill every job not done and cancel them in Slurm");
        api.MapPost("/{name}/extend", (string name, ExtendRequest? request, HttpContext http, CallerIdentity identity, ProductionService service, CancellationToken ct) =>
            Control(name, http, identity, service, ct, () => service.ExtendAsync(name, request, ct))).WithSummary("Add events (simulation)");
        api.MapPost("/{name}/recover", async (string name, HttpContext http, CallerIdentity identity, ProductionService service, Recovery recovery, CancellationToken ct) =>
        {
            var p = await service.GetAsync(name, ct);
            await identity.RequireAsync(http, p.OutputDataset);
            return await recovery.RecoverAsync(name, ct);
        }).WithSummary("Plan again the jobs whose output the catalog lacks");

        api.MapPost("/{name}/jobs/{index:int}/report", async (string name, int index, JobReport? report, HttpContext http, ProductionService service, CancellationToken ct) =>
            Results.Ok(new { moved = await service.ReportAsync(name, index, http.Request.Headers["X-Report-Key"].FirstOrDefault(), report, ct) }))
            .ExcludeFromDescription();
        return app;
    }

    private static async Task<ProductionInfo> Control(string name, HttpContext http, CallerIdentity identity, ProductionService service, CancellationToken ct,
        Func<Task<ProductionInfo>> action)
    {
        var p = await service.GetAsync(name, ct);
        await identity.RequireAsync(http, p.OutputDataset);
        return await action();
    }
}
