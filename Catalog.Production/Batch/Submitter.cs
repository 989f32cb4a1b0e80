using Catalog.Modules;
using System.Text.Json;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Production.Jobs;
using Catalog.Production.Productions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Catalog.Production.Batch;

/// <summary>
/// Feeds Slurm in bounded slices (one array of at most SliceSize jobs per production and site per
/// round), keeping each site under SiteCap jobs queued or running. The no-double-submission
/// protocol (docs/DESIGN.md):
/// 1. reserve: in one transaction, a submission row and its jobs moved planned -> reserved;
/// 2. sbatch the array, named after the submission (<c>production_s&lt;id&gt;</c>);
/// 3. record: Slurm's job id on the submission, jobs reserved -> submitted.
/// A crash between 1 and 3 leaves a reserved submission; on start, before submitting anything,
/// <see cref="ReconcileAsync"/> waits out any sbatch still running for it and looks the name up in
/// Slurm (queue and completion log): found, it is recorded; not found, Slurm never got it and its
/// jobs are planned again.
/// </summary>
public sealed class Submitter(NpgsqlDataSource db, Slurm slurm, CatalogClient catalog, ProductionService productions, Faults faults,
    IOptions<ProductionOptions> options, ILogger<Submitter> logger) : BackgroundService
{
    private readonly ProductionOptions o = options.Value;
    private IReadOnlyList<StorageElement>? ses;
    private DateTime sesUntil;

    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        Directory.CreateDirectory(Path.Combine(o.SpoolDirectory, "slices"));
        await ReconcileAsync(stop);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (await RoundAsync(stop) == 0) await Task.Delay(o.SubmitInterval, stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { return; }
            catch (Exception e)
            {
                logger.LogError(e, "Submission round failed; retrying");
                await Task.Delay(o.SubmitInterval * 5, stop);
            }
        }
    }

    /// <summary>Settles every reserved submission against Slurm. Runs before the first submission.</summary>
    public async Task ReconcileAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        foreach (var s in await SubmissionStore.ReservedAsync(conn))
        {
            var p = (await ProductionStore.GetAsync(conn, s.ProductionId))!;
            var name = SubmissionStore.JobName(p.Name, s.Id);
            for (var i = 0; i < 120 && Slurm.SubmissionInFlight(name); i++) await Task.Delay(500, ct);
            var found = await slurm.FindByNameAsync(name, ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            if (found.Count > 0)
            {
                if (found.Count > 1) logger.LogError("Submission {Name} is in Slurm {Count} times: {Ids}", name, found.Count, string.Join(",", found));
                await SubmissionStore.RecordAsync(conn, tx, s.Id, found[0]);
                await JobStore.MoveSubmissionAsync(conn, tx, s.Id, JobState.Submitted);
                logger.LogWarning("Reconciled {Name}: Slurm has it as job {Id}; recorded", name, found[0]);
            }
            else
            {
                var released = await JobRelease.ReleaseAsync(conn, tx, s.Id);
                await SubmissionStore.DeleteAsync(conn, tx, s.Id);
                logger.LogWarning("Reconciled {Name}: Slurm never got it; {Jobs} jobs planned again", name, released);
            }
            await tx.CommitAsync(ct);
        }
    }

    /// <summary>One round over active productions and their sites; answers how many jobs went to Slurm.</summary>
    public async Task<int> RoundAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var active = await JobStore.ActivePerSiteAsync(conn);
        var submitted = 0;
        foreach (var p in await ProductionStore.ActiveAsync(conn))
        {
            var spec = p.Definition;
            foreach (var site in spec.Sites ?? [])
            {
                var room = Math.Min(o.SliceSize, o.SiteCap - active.GetValueOrDefault(site));
                if (room <= 0) continue;
                var n = await SubmitSliceAsync(conn, p, spec, site, room, await StorageElementsAsync(ct), ct);
                active[site] = active.GetValueOrDefault(site) + n;
                submitted += n;
            }
        }
        return submitted;
    }

    /// <summary>
    /// The catalog's SEs, read again once older than StorageElementRefresh (30 s); while the catalog is away the last list serves, so
    /// jobs keep going out (they wait for the catalog themselves before registering).
    /// </summary>
    private async Task<IReadOnlyList<StorageElement>> StorageElementsAsync(CancellationToken ct)
    {
        if (ses is not null && DateTime.UtcNow < sesUntil) return ses;
        try
        {
            ses = await catalog.ListStorageElementsAsync(ct);
            sesUntil = DateTime.UtcNow + o.StorageElementRefresh;
        }
        catch (Exception e) when (ses is not null && e is HttpRequestException or TimeoutException or CatalogClientException)
        {
            logger.LogWarning("The catalog did not list its SEs ({Error}); using the list from before", e.Message);
            sesUntil = DateTime.UtcNow.AddSeconds(5);
        }
        return ses;
    }

    private async Task<int> SubmitSliceAsync(NpgsqlConnection conn, ProductionRow p, ProductionSpec spec, string site, int room,
        IReadOnlyList<StorageElement> ses, CancellationToken ct)
    {
        // 1. Reserve.
        long submission;
        IReadOnlyList<ReservedJob> jobs;
        await using (var tx = await conn.BeginTransactionAsync(ct))
        {
            submission = await SubmissionStore.ReserveAsync(conn, tx, p.Id, site);
            jobs = await JobStore.ReserveAsync(conn, tx, p.Id, site, room, submission);
            if (jobs.Count == 0) { await tx.RollbackAsync(ct); return 0; }
            await SubmissionStore.SetSizeAsync(conn, tx, submission, jobs.Count);
            await tx.CommitAsync(ct);
        }
        faults.At(FaultPoints.AfterReserve);

        // 2. Submit, under the submission's name.
        var name = SubmissionStore.JobName(p.Name, submission);
        var script = await WriteSliceAsync(p, spec, site, submission, jobs, ses);
        long slurmId;
        try
        {
            slurmId = await slurm.SubmitArrayAsync(name, site, jobs.Count, script, Path.Combine(o.SpoolDirectory, "logs"), ct);
        }
        catch (SlurmException e)
        {
            // sbatch said no: Slurm does not have it, so the jobs go back to planned.
            logger.LogError("{Name} was not submitted: {Error}", name, e.Message);
            await using var tx = await conn.BeginTransactionAsync(ct);
            await JobRelease.ReleaseAsync(conn, tx, submission);
            await SubmissionStore.DeleteAsync(conn, tx, submission);
            await tx.CommitAsync(ct);
            return 0;
        }
        faults.At(FaultPoints.AfterSbatch);

        // 3. Record.
        await using (var tx = await conn.BeginTransactionAsync(ct))
        {
            await SubmissionStore.RecordAsync(conn, tx, submission, slurmId);
            await JobStore.MoveSubmissionAsync(conn, tx, submission, JobState.Submitted);
            await tx.CommitAsync(ct);
        }
        faults.At(FaultPoints.AfterRecord);
        logger.LogInformation("Submitted {Name}: {Jobs} jobs at {Site} as Slurm job {Id}", name, jobs.Count, site, slurmId);
        return jobs.Count;
    }

    /// <summary>Writes the slice file and the batch script (owner-only: the slice carries the catalog token).</summary>
    private async Task<string> WriteSliceAsync(ProductionRow p, ProductionSpec spec, string site, long submission, IReadOnlyList<ReservedJob> jobs,
        IReadOnlyList<StorageElement> ses)
    {
        var order = new List<StorageElement>();
        var usable = ses.Where(DefinitionCheck.Writable).OrderBy(s => s.Name, StringComparer.Ordinal).ToList();
        if (spec.DestinationSe is { } dest && usable.FirstOrDefault(s => s.Name == dest) is { } chosen) order.Add(chosen);
        order.AddRange(usable.Where(s => s.Site == site && !order.Contains(s)));
        // Failover: other sites' SEs, in name order, so every job of a slice tries them alike.
        order.AddRange(usable.Where(s => !order.Contains(s)).OrderBy(s => s.Name, StringComparer.Ordinal));
        var slice = new Slice(p.Id, p.Name, spec.Kind!.Value, spec.OutputDataset!, spec.DataLevel ?? "mdst", spec.OutputSize ?? 65536, site,
            o.CatalogUrl, ModuleToken.Resolve(o.CatalogToken, o.CatalogTokenFile, ProductionOptions.Section), o.PublicUrl, await productions.ReportKeyAsync(), o.SpoolDirectory,
            (int)o.RegistrationPatience.TotalSeconds, OutputFile.Common(spec),
            order.Select(s => new SliceSe(s.Name, s.BaseUrl)).ToList(),
            jobs.Select(j => new SliceJob(j.Idx, j.Task, j.Attempts, j.Seed, j.FirstEvent, j.Events, Planner.Run(spec, j.Idx), j.Inputs, j.Generation)).ToList());
        var dir = Path.Combine(o.SpoolDirectory, "slices");
        var file = Path.Combine(dir, $"{submission}.json");
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite };
        await using (var stream = new FileStream(file, options)) await JsonSerializer.SerializeAsync(stream, slice, CatalogJson.Options);
        var script = Path.Combine(dir, $"{submission}.sh");
        await File.WriteAllTextAsync(script, $"#!/bin/sh\nexec {PayloadCommand()} job '{file}'\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Directory.CreateDirectory(Path.Combine(o.SpoolDirectory, "logs"));
        return script;
    }

    /// <summary>The job program: Production:PayloadCommand (./run.sh's native build), else the JIT build beside the service.</summary>
    private string PayloadCommand() => o.PayloadCommand is { Length: > 0 } command ? command
        : $"'{Environment.ProcessPath}' '{Path.Combine(AppContext.BaseDirectory, "Catalog.Production.Job.dll")}'";
}
