using Catalog.Client;
using Catalog.Contracts;
using Catalog.Production.Jobs;
using Catalog.Production.Productions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Catalog.Production.Batch;

/// <summary>
/// Watches what the jobs' own reports cannot tell: arrays that left Slurm with jobs that never
/// reported (batch failures: killed, out of time, node lost), outputs uploaded but not registered
/// (the service registers them itself, under the job's own idempotency key), automatic retries
/// within each failure class's limit, and productions that are done.
/// </summary>
public sealed class Watcher(NpgsqlDataSource db, Slurm slurm, CatalogClient catalog, IOptions<ProductionOptions> options, ILogger<Watcher> logger) : BackgroundService
{
    private readonly ProductionOptions o = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await LostJobsAsync(stop);
                await StrandedOutputsAsync(stop);
                await RetriesAndCompletionAsync(stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { return; }
            catch (Exception e) { logger.LogError(e, "Watch round failed; retrying"); }
            try { await Task.Delay(o.WatchInterval, stop); } catch (OperationCanceledException) { return; }
        }
    }

    private async Task LostJobsAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var open = await SubmissionStore.OpenAsync(conn);
        if (open.Count == 0) return;
        var live = await slurm.LiveArraysAsync(ct);
        var gone = open.Where(s => s.SlurmJobId is { } id && !live.Contains(id)).ToList();
        if (gone.Count == 0) return;
        var finished = slurm.Finished(gone.Select(s => s.SlurmJobId!.Value).ToHashSet())
            .ToDictionary(t => (t.ArrayJobId, t.Task));
        var arrayOf = gone.ToDictionary(s => s.Id, s => s.SlurmJobId!.Value);
        foreach (var (productionId, submissionId, idx, task, _, updated) in await JobRelease.UnfinishedAsync(conn, gone.Select(s => s.Id).ToArray()))
        {
            var ended = finished.TryGetValue((arrayOf[submissionId], task), out var t);
            string? why = ended && t.State != "COMPLETED" ? $"Slurm ended the job: {t.State}, exit {t.ExitCode}"
                : DateTime.UtcNow - DateTime.SpecifyKind(updated, DateTimeKind.Utc) > o.LostAfter ? "the job ended without reporting its result" : null;
            if (why is null) continue;
            await JobStore.MoveAsync(conn, null, productionId, idx, JobState.Failed, null, FailureClass.Batch, why);
        }
    }

    /// <summary>Registers outputs whose job gave up registering (DIRAC's failover request, kept in our own database).</summary>
    private async Task StrandedOutputsAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var stranded = await OutputStore.StrandedAsync(conn, 200);
        if (stranded.Count == 0) return;
        var productions = new Dictionary<long, ProductionRow>();
        foreach (var s in stranded)
        {
            if (!productions.TryGetValue(s.ProductionId, out var p)) productions[s.ProductionId] = p = (await ProductionStore.GetAsync(conn, s.ProductionId))!;
            var spec = p.Definition;
            var job = new SliceJob(s.Idx, 0, 0, s.Seed, s.FirstEvent, s.Events, Planner.Run(spec, s.Idx), s.Inputs, s.Generation);
            var file = OutputFile.Describe(OutputFile.Common(spec), spec.OutputDataset!, s.Site, job, s.Events, s.Output);
            try
            {
                var result = (await catalog.RegisterAsync([file], OutputFile.IdempotencyKey(p.Id, s.Idx, s.Generation), ct)).Results[0];
                if (result.Status == ItemStatus.Failed)
                {
                    await JobStore.MoveAsync(conn, null, p.Id, s.Idx, JobState.Failed, null, FailureClass.Application, $"the catalog refused the output: {result.Error?.Message}");
                    continue;
                }
                await OutputStore.SaveAsync(conn, null, p.Id, s.Idx, s.Output with { Lfn = result.Lfn });
                await JobStore.MoveAsync(conn, null, p.Id, s.Idx, JobState.Registered, null);
                logger.LogInformation("Registered the stranded output of {Production} job {Index}", p.Name, s.Idx);
            }
            catch (CatalogConflictException e) when (e.Code == ErrorCode.IdempotencyKeyReused)
            {
                await JobStore.MoveAsync(conn, null, p.Id, s.Idx, JobState.Registered, null);
            }
            catch (Exception e) when (e is HttpRequestException or TimeoutException or CatalogOverloadedException or CatalogRateLimitedException)
            {
                return; // the catalog is still away: next round
            }
        }
    }

    private async Task RetriesAndCompletionAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        foreach (var p in await ProductionStore.ActiveAsync(conn))
        {
            foreach (var (failure, limit) in o.RetryLimits.Where(kv => kv.Key != FailureClass.Registration))
                await JobStore.RetryFailedAsync(conn, p.Id, (short)failure, limit);
            if (!await JobRelease.AnyOpenAsync(conn, p.Id))
            {
                await using var tx = await conn.BeginTransactionAsync(ct);
                await ProductionStore.SetStateAsync(conn, tx, p.Id, ProductionState.Done);
                await tx.CommitAsync(ct);
                logger.LogInformation("Production {Name} is done: every job's output is registered", p.Name);
            }
        }
    }
}
