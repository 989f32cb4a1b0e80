using Catalog.Modules;
using System.Security.Cryptography;
using System.Text;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Production.Batch;
using Npgsql;

namespace Catalog.Production.Productions;

/// <summary>Defines, plans, shows and controls productions; takes the jobs' reports.</summary>
public sealed class ProductionService(NpgsqlDataSource db, CatalogClient catalog, DefinitionCheck check, Slurm slurm, ILogger<ProductionService> logger)
{
    private string? reportKey;

    /// <summary>The secret the jobs report with (kept in the production database, so it survives restarts).</summary>
    public async Task<string> ReportKeyAsync() => reportKey ??= await ProductionStore.ReportKeyAsync(db);

    /// <summary>
    /// Checks the definition (its own rules, then the catalog's view), plans every job in one
    /// transaction and creates the output dataset in the catalog before committing: a refused
    /// definition leaves nothing behind, here or in the catalog's datasets.
    /// </summary>
    public async Task<ProductionInfo> CreateAsync(ProductionSpec? spec, string owner, CancellationToken ct)
    {
        var valid = DefinitionCheck.Validate(spec);
        await using (var probe = await db.OpenConnectionAsync(ct))
            if (await ProductionStore.ExistsAsync(probe, valid.Name!, valid.OutputDataset!))
                throw await ProductionStore.GetAsync(probe, valid.Name!) is not null
                    ? ServiceException.Conflict("name", $"a production named {valid.Name} exists")
                    : ServiceException.Conflict("outputDataset", $"{valid.OutputDataset} is the output of another production");
        var definition = await check.CheckAsync(valid, ct);
        var jobs = definition.Spec.Kind == ProductionKind.Simulation
            ? Planner.Simulation(valid.Name!, definition.Sites, valid.Events!.Value, valid.EventsPerJob!.Value)
            : Planner.Processing(valid.Name!, definition.Sites, definition.Inputs, valid.FilesPerJob!.Value);

        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        long id;
        try
        {
            id = await ProductionStore.InsertAsync(conn, tx, definition.Spec, owner, 0);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw e.ConstraintName == "production_name_key"
                ? ServiceException.Conflict("name", $"a production named {valid.Name} exists")
                : ServiceException.Conflict("outputDataset", $"{valid.OutputDataset} is the output of another production");
        }
        var planned = await JobStore.PlanAsync(conn, id, jobs, ct);
        await ProductionStore.ExtendAsync(conn, tx, id, definition.Spec, planned);
        await catalog.CreateDatasetAsync(new DatasetRequest(valid.OutputDataset), ct);
        await tx.CommitAsync(ct);
        logger.LogInformation("Production {Name} defined by {Owner}: {Jobs} jobs at {Sites}", valid.Name, owner, planned, string.Join(",", definition.Sites));
        return (await GetAsync(valid.Name!, ct)).ToInfo();
    }

    public async Task<ProductionRow> GetAsync(string name, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await ProductionStore.GetAsync(conn, name) ?? throw ServiceException.NotFound($"production {name}");
    }

    public async Task<IReadOnlyList<ProductionInfo>> ListAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await ProductionStore.ListAsync(conn)).Select(p => p.ToInfo()).ToList();
    }

    /// <summary>Counts by state, site and failure class: one index-only scan, milliseconds for a million jobs.</summary>
    public async Task<ProductionStatus> StatusAsync(string name, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var p = await ProductionStore.GetAsync(conn, name) ?? throw ServiceException.NotFound($"production {name}");
        var rows = await JobStore.CountAsync(conn, p.Id);
        var bySite = rows.GroupBy(r => (r.Site, r.State)).Select(g => new JobCount(g.Key.Site, (JobState)g.Key.State, g.Sum(r => r.Jobs)))
            .OrderBy(c => c.Site, StringComparer.Ordinal).ThenBy(c => c.State).ToList();
        var byState = Enum.GetValues<JobState>().ToDictionary(s => CatalogJson.Name(s), s => rows.Where(r => r.State == (short)s).Sum(r => r.Jobs));
        var failures = rows.Where(r => r.State == (short)JobState.Failed && r.FailureClass is not null)
            .GroupBy(r => CatalogJson.Name((FailureClass)r.FailureClass!.Value)).ToDictionary(g => g.Key, g => g.Sum(r => r.Jobs));
        return new ProductionStatus(p.Id, p.Name, (ProductionState)p.State, rows.Sum(r => r.Jobs), byState, bySite, failures);
    }

    public async Task<JobPage> JobsAsync(string name, JobState? state, int? after, int? limit, CancellationToken ct)
    {
        var take = limit ?? 100;
        if (take is < 1 or > 10_000) throw ServiceException.Invalid("limit", "must be 1-10000");
        await using var conn = await db.OpenConnectionAsync(ct);
        var p = await ProductionStore.GetAsync(conn, name) ?? throw ServiceException.NotFound($"production {name}");
        var rows = await JobStore.PageAsync(conn, p.Id, state, after ?? -1, take);
        return new JobPage(rows.Select(r => r.ToInfo()).ToList(), rows.Count == take ? rows[^1].Idx : null);
    }

    /// <summary>Pause or resume: only the submission of new jobs stops; what runs goes on.</summary>
    public async Task<ProductionInfo> SetStateAsync(string name, ProductionState to, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var p = await ProductionStore.LockAsync(conn, tx, name) ?? throw ServiceException.NotFound($"production {name}");
        var from = (ProductionState)p.State;
        if (from == ProductionState.Killed) throw ServiceException.Conflict("state", $"production {name} was killed; it cannot be {(to == ProductionState.Active ? "resumed" : "paused")}");
        if (from == ProductionState.Done && to == ProductionState.Paused) throw ServiceException.Conflict("state", $"production {name} is done");
        if (from != ProductionState.Done) await ProductionStore.SetStateAsync(conn, tx, p.Id, to);
        await tx.CommitAsync(ct);
        return (await GetAsync(name, ct)).ToInfo();
    }

    /// <summary>Kill: every job not done is killed here first (so nothing submits it again), then cancelled in Slurm.</summary>
    public async Task<ProductionInfo> KillAsync(string name, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        IReadOnlyList<long> arrays;
        await using (var tx = await conn.BeginTransactionAsync(ct))
        {
            var p = await ProductionStore.LockAsync(conn, tx, name) ?? throw ServiceException.NotFound($"production {name}");
            await ProductionStore.SetStateAsync(conn, tx, p.Id, ProductionState.Killed);
            await JobStore.MoveAllAsync(conn, tx, p.Id, JobState.Killed);
            arrays = await SubmissionStore.SlurmIdsAsync(conn, p.Id);
            await tx.CommitAsync(ct);
        }
        await slurm.CancelAsync(arrays, ct);
        return (await GetAsync(name, ct)).ToInfo();
    }

    /// <summary>Extend a simulation by more events: the new jobs follow the last, with their own seeds.</summary>
    public async Task<ProductionInfo> ExtendAsync(string name, ExtendRequest? request, CancellationToken ct)
    {
        if (request?.Events is not > 0) throw ServiceException.Invalid("events", "must be a positive number of events");
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var p = await ProductionStore.LockAsync(conn, tx, name) ?? throw ServiceException.NotFound($"production {name}");
        var spec = p.Definition;
        if (spec.Kind != ProductionKind.Simulation) throw ServiceException.Invalid("events", "only a simulation production can be extended by events");
        if ((ProductionState)p.State == ProductionState.Killed) throw ServiceException.Conflict("state", $"production {name} was killed");
        var from = await JobStore.MaxIndexAsync(conn, tx, p.Id) + 1;
        var added = await JobStore.PlanAsync(conn, p.Id, Planner.Simulation(p.Name, spec.Sites!, request.Events.Value, spec.EventsPerJob!.Value, from, spec.Events!.Value), ct);
        await ProductionStore.ExtendAsync(conn, tx, p.Id, spec with { Events = spec.Events + request.Events }, p.Jobs + added);
        if ((ProductionState)p.State == ProductionState.Done) await ProductionStore.SetStateAsync(conn, tx, p.Id, ProductionState.Active);
        await tx.CommitAsync(ct);
        return (await GetAsync(name, ct)).ToInfo();
    }

    /// <summary>
    /// A job's report. Moves are guarded by the transition table and by the attempt (a late report
    /// of an earlier attempt changes nothing), except a registered output, which is the truth
    /// whichever attempt made it. The uploaded output is kept with the move, in one transaction.
    /// </summary>
    public async Task<bool> ReportAsync(string name, int index, string? key, JobReport? report, CancellationToken ct)
    {
        var expected = await ReportKeyAsync();
        if (key is null || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(expected)))
            throw new ServiceException(ErrorCode.Unauthorized, "a job report needs the production's report key (X-Report-Key)");
        if (report is null) throw ServiceException.Invalid("body", "must be a job report");
        if (report.State is not (JobState.Running or JobState.Uploading or JobState.Registered or JobState.Failed))
            throw ServiceException.Invalid("state", "a job reports running, uploading, registered or failed");
        if (report.State == JobState.Failed && report.FailureClass is null) throw ServiceException.Invalid("failureClass", "is required with a failure");
        await using var conn = await db.OpenConnectionAsync(ct);
        var p = await ProductionStore.GetAsync(conn, name) ?? throw ServiceException.NotFound($"production {name}");
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (report.Output is { } output) await OutputStore.SaveAsync(conn, tx, p.Id, index, output);
        var moved = await JobStore.MoveAsync(conn, tx, p.Id, index, report.State, report.State == JobState.Registered ? null : report.Attempt,
            report.FailureClass, report.Message is { Length: > 2000 } m ? m[..2000] : report.Message);
        await tx.CommitAsync(ct);
        return moved == 1;
    }
}
