using Catalog.Contracts;
using Dapper;
using Npgsql;
using NpgsqlTypes;

namespace Catalog.Production.Productions;

public sealed class JobRow
{
    public int Idx { get; init; }
    public short State { get; init; }
    public string Site { get; init; } = "";
    public long FirstEvent { get; init; }
    public int Events { get; init; }
    public string[]? Inputs { get; init; }
    public short Attempts { get; init; }
    public short? FailureClass { get; init; }
    public string? Failure { get; init; }
    public DateTime Updated { get; init; }
    public long? SlurmJobId { get; init; }
    public string? OutputLfn { get; init; }
    public string? OutputSe { get; init; }

    public JobInfo ToInfo() => new(Idx, (JobState)State, Site, Attempts, SlurmJobId, FirstEvent, Events, Inputs,
        (FailureClass?)FailureClass, Failure, OutputLfn, OutputSe, new DateTimeOffset(Updated, TimeSpan.Zero));
}

/// <summary>A job taken for one Slurm array: its task number in the array and what it runs.</summary>
public sealed class ReservedJob
{
    public int Idx { get; init; }
    public int Task { get; init; }
    public long Seed { get; init; }
    public long FirstEvent { get; init; }
    public int Events { get; init; }
    public string[]? Inputs { get; init; }
    public short Attempts { get; init; }
    public short Generation { get; init; }
}

public static class JobStore
{
    /// <summary>
    /// Writes planned jobs by binary COPY: a 1,000,000-job production is planned in seconds
    /// (docs/BENCHMARKS.md), where row-by-row inserts would take minutes.
    /// </summary>
    public static async Task<int> PlanAsync(NpgsqlConnection conn, long productionId, IEnumerable<PlannedJob> jobs, CancellationToken ct)
    {
        var count = 0;
        await using var copy = await conn.BeginBinaryImportAsync(
            "copy job (production_id, idx, state, site, seed, first_event, events, inputs) from stdin (format binary)", ct);
        foreach (var j in jobs)
        {
            await copy.StartRowAsync(ct);
            await copy.WriteAsync(productionId, NpgsqlDbType.Bigint, ct);
            await copy.WriteAsync(j.Index, NpgsqlDbType.Integer, ct);
            await copy.WriteAsync((short)JobState.Planned, NpgsqlDbType.Smallint, ct);
            await copy.WriteAsync(j.Site, NpgsqlDbType.Text, ct);
            await copy.WriteAsync(j.Seed, NpgsqlDbType.Bigint, ct);
            await copy.WriteAsync(j.FirstEvent, NpgsqlDbType.Bigint, ct);
            await copy.WriteAsync(j.Events, NpgsqlDbType.Integer, ct);
            if (j.Inputs is null) await copy.WriteNullAsync(ct);
            else await copy.WriteAsync(j.Inputs, NpgsqlDbType.Array | NpgsqlDbType.Text, ct);
            count++;
        }
        await copy.CompleteAsync(ct);
        return count;
    }

    /// <summary>
    /// Takes up to <paramref name="limit"/> planned jobs of one production at one site for submission
    /// <paramref name="submissionId"/>, numbering them 0.. as the array's tasks. SKIP LOCKED: two
    /// submitters never take the same job.
    /// </summary>
    public static async Task<IReadOnlyList<ReservedJob>> ReserveAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long productionId, string site, int limit, long submissionId) =>
        (await conn.QueryAsync<ReservedJob>("""
            with picked as (
                select idx from job
                where production_id = @productionId and state = @planned and site = @site
                order by idx limit @limit for update skip locked),
            numbered as (select idx, (row_number() over (order by idx) - 1)::int as task from picked)
            update job j set state = @reserved, submission_id = @submissionId, task = n.task, attempts = j.attempts + 1,
                             failure_class = null, failure = null, updated = now()
            from numbered n
            where j.production_id = @productionId and j.idx = n.idx
            returning j.idx, n.task, j.seed, j.first_event as FirstEvent, j.events, j.inputs, j.attempts, j.generation
            """, new { productionId, site, limit, submissionId, planned = (short)JobState.Planned, reserved = (short)JobState.Reserved }, tx))
        .OrderBy(j => j.Task).ToList();

    /// <summary>Moves the jobs of a submission, guarded by the transition table; answers how many moved.</summary>
    public static Task<int> MoveSubmissionAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, long submissionId, JobState to, FailureClass? failureClass = null, string? failure = null) =>
        conn.ExecuteAsync("""
            update job set state = @to, failure_class = @fc, failure = @failure, updated = now()
            where submission_id = @submissionId and state = any(@from)
            """, new { submissionId, to = (short)to, from = JobStates.From(to), fc = (short?)failureClass, failure }, tx);

    /// <summary>Moves one job, guarded by the transition table (and by its attempt, unless it reports a registered output).</summary>
    public static Task<int> MoveAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, long productionId, int idx, JobState to, int? attempt,
        FailureClass? failureClass = null, string? failure = null) =>
        conn.ExecuteAsync("""
            update job set state = @to, failure_class = @fc, failure = @failure, updated = now()
            where production_id = @productionId and idx = @idx and state = any(@from) and (@attempt::smallint is null or attempts = @attempt)
            """, new { productionId, idx, to = (short)to, from = JobStates.From(to), attempt = (short?)attempt, fc = (short?)failureClass, failure }, tx);

    /// <summary>Moves many jobs of a production to one state, guarded by the transition table.</summary>
    public static Task<int> MoveManyAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, long productionId, int[] idx, JobState to, string? failure = null) =>
        conn.ExecuteAsync("""
            update job set state = @to, failure = coalesce(@failure, failure), updated = now()
            where production_id = @productionId and idx = any(@idx) and state = any(@from)
            """, new { productionId, idx, to = (short)to, from = JobStates.From(to), failure }, tx);

    /// <summary>Registered jobs whose output the catalog lost, planned again as a new output generation.</summary>
    public static Task<int> ReplanLostAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long productionId, int[] idx) =>
        conn.ExecuteAsync("""
            update job set state = @planned, generation = generation + 1, updated = now()
            where production_id = @productionId and idx = any(@idx) and state = @registered
            """, new { productionId, idx, planned = (short)JobState.Planned, registered = (short)JobState.Registered }, tx);

    /// <summary>Every job of a production not yet done, moved to <paramref name="to"/> (kill).</summary>
    public static Task<int> MoveAllAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long productionId, JobState to) =>
        conn.ExecuteAsync("update job set state = @to, updated = now() where production_id = @productionId and state = any(@from)",
            new { productionId, to = (short)to, from = JobStates.From(to) }, tx);

    /// <summary>Counts by state, site and failure class, from the counters the job table's triggers keep (schema/003).</summary>
    public static async Task<IReadOnlyList<(short State, string Site, short? FailureClass, long Jobs)>> CountAsync(NpgsqlConnection conn, long productionId) =>
        (await conn.QueryAsync<(short, string, short?, long)>("""
            select state, site, nullif(failure_class, -1), jobs from job_count where production_id = @productionId and jobs <> 0
            """, new { productionId })).AsList();

    /// <summary>
    /// Jobs of every production in Slurm's hands, per site (the per-site cap), from the counters:
    /// counting the job table itself read every production's index on every submission round.
    /// </summary>
    public static async Task<Dictionary<string, int>> ActivePerSiteAsync(NpgsqlConnection conn) =>
        (await conn.QueryAsync<(string Site, int Jobs)>("select site, sum(jobs)::int from job_count where state = any(@active) group by site",
            new { active = JobStates.Active })).ToDictionary(r => r.Site, r => r.Jobs);

    public static async Task<IReadOnlyList<JobRow>> PageAsync(NpgsqlConnection conn, long productionId, JobState? state, int after, int limit) =>
        (await conn.QueryAsync<JobRow>("""
            select j.idx, j.state, j.site, j.first_event as FirstEvent, j.events, j.inputs, j.attempts, j.failure_class as FailureClass, j.failure, j.updated, s.slurm_job_id as SlurmJobId, o.lfn as OutputLfn, o.se as OutputSe
            from job j
            left join submission s on s.id = j.submission_id
            left join output o on o.production_id = j.production_id and o.idx = j.idx
            where j.production_id = @productionId and j.idx > @after and (@state::smallint is null or j.state = @state)
            order by j.idx limit @limit
            """, new { productionId, after, limit, state = (short?)state })).AsList();

    /// <summary>Failed jobs under their retry limit, planned again (attempts count up when they are reserved).</summary>
    public static Task<int> RetryFailedAsync(NpgsqlConnection conn, long productionId, short failureClass, int limit, int[]? except = null) =>
        conn.ExecuteAsync("""
            update job set state = @planned, updated = now()
            where production_id = @productionId and state = @failed and failure_class = @failureClass and attempts < @limit
              and not (idx = any(@except))
            """, new { productionId, failureClass, limit, except = except ?? [], planned = (short)JobState.Planned, failed = (short)JobState.Failed });

    /// <summary>(index, state, attempts) of every job: the recovery compares them with the catalog.</summary>
    public static async Task<IReadOnlyList<(int Idx, short State, short Attempts)>> StatesAsync(NpgsqlConnection conn, long productionId) =>
        (await conn.QueryAsync<(int, short, short)>("select idx, state, attempts from job where production_id = @productionId order by idx", new { productionId })).AsList();

    public static Task<int> MaxIndexAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long productionId) =>
        conn.ExecuteScalarAsync<int>("select coalesce(max(idx), -1) from job where production_id = @productionId", new { productionId }, tx);
}

public static class JobRelease
{
    /// <summary>
    /// Gives a submission's reserved jobs back (Slurm never got them): planned again, the attempt the
    /// reservation counted taken back, so the next reservation is the same attempt.
    /// </summary>
    public static Task<int> ReleaseAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long submissionId) =>
        conn.ExecuteAsync("""
            update job set state = @planned, submission_id = null, task = null, attempts = attempts - 1, updated = now()
            where submission_id = @submissionId and state = @reserved
            """, new { submissionId, planned = (short)JobState.Planned, reserved = (short)JobState.Reserved }, tx);

    /// <summary>Jobs of finished or vanished arrays still waiting for a result: (submission, index, task, state, updated).</summary>
    public static async Task<IReadOnlyList<(long ProductionId, long SubmissionId, int Idx, int Task, short State, DateTime Updated)>> UnfinishedAsync(
        NpgsqlConnection conn, long[] submissionIds) =>
        (await conn.QueryAsync<(long, long, int, int, short, DateTime)>("""
            select production_id, submission_id, idx, task, state, updated from job
            where submission_id = any(@submissionIds) and state = any(@waiting)
            """, new { submissionIds, waiting = new[] { (short)JobState.Submitted, (short)JobState.Running, (short)JobState.Uploading } })).AsList();

    /// <summary>Whether any job of the production is not yet registered (two index range probes, fast at any size).</summary>
    public static Task<bool> AnyOpenAsync(NpgsqlConnection conn, long productionId) =>
        conn.ExecuteScalarAsync<bool>("""
            select exists (select 1 from job where production_id = @productionId and state < @registered)
                or exists (select 1 from job where production_id = @productionId and state = @failed)
            """, new { productionId, registered = (short)JobState.Registered, failed = (short)JobState.Failed });
}
