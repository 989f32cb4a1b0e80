using Dapper;
using Npgsql;

namespace Catalog.Production.Productions;

public sealed record SubmissionRow(long Id, long ProductionId, string Site, short State, long? SlurmJobId, int Jobs, DateTime Created)
{
    public const short Reserved = 0, Submitted = 1;
}

public static class SubmissionStore
{
    private const string Columns = "id, production_id as ProductionId, site, state, slurm_job_id as SlurmJobId, jobs, created";

    /// <summary>The Slurm job name of a submission's array: how reconciliation finds it after a crash.</summary>
    public static string JobName(string production, long submissionId) => $"{production}_s{submissionId}";

    public static Task<long> ReserveAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long productionId, string site) =>
        conn.ExecuteScalarAsync<long>("insert into submission (production_id, site, state, jobs) values (@productionId, @site, 0, 0) returning id",
            new { productionId, site }, tx);

    public static Task SetSizeAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long id, int jobs) =>
        conn.ExecuteAsync("update submission set jobs = @jobs where id = @id", new { id, jobs }, tx);

    public static Task DeleteAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long id) =>
        conn.ExecuteAsync("delete from submission where id = @id", new { id }, tx);

    public static Task<int> RecordAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long id, long slurmJobId) =>
        conn.ExecuteAsync("update submission set state = 1, slurm_job_id = @slurmJobId where id = @id and state = 0", new { id, slurmJobId }, tx);

    public static async Task<IReadOnlyList<SubmissionRow>> ReservedAsync(NpgsqlConnection conn) =>
        (await conn.QueryAsync<SubmissionRow>($"select {Columns} from submission where state = 0 order by id")).AsList();

    /// <summary>Submitted arrays that still have jobs Slurm should be running (the watcher checks them against squeue).</summary>
    public static async Task<IReadOnlyList<SubmissionRow>> OpenAsync(NpgsqlConnection conn) =>
        (await conn.QueryAsync<SubmissionRow>($"""
            select {Columns} from submission s
            where s.state = 1 and exists (select 1 from job j where j.production_id = s.production_id and j.submission_id = s.id and j.state = any(@active))
            """, new { active = JobStates.Active })).AsList();

    public static async Task<IReadOnlyList<long>> SlurmIdsAsync(NpgsqlConnection conn, long productionId) =>
        (await conn.QueryAsync<long>("select slurm_job_id from submission where production_id = @productionId and slurm_job_id is not null", new { productionId })).AsList();
}
