using Catalog.Contracts;
using Dapper;
using Npgsql;

namespace Catalog.Production.Productions;

public static class OutputStore
{
    /// <summary>Records (or updates) what a job uploaded, so the service can register it if the job cannot.</summary>
    public static Task SaveAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, long productionId, int idx, JobOutput o) =>
        conn.ExecuteAsync("""
            insert into output (production_id, idx, name, size, adler32, se, pfn, lfn) values (@productionId, @idx, @Name, @Size, @Adler32, @Se, @Pfn, @Lfn)
            on conflict (production_id, idx) do update set size = excluded.size, adler32 = excluded.adler32, se = excluded.se,
                pfn = excluded.pfn, lfn = coalesce(excluded.lfn, output.lfn)
            """, new { productionId, idx, o.Name, o.Size, o.Adler32, o.Se, o.Pfn, o.Lfn }, tx);

    /// <summary>Failed registrations whose output is on an SE: the service registers these itself.</summary>
    public static async Task<IReadOnlyList<(long ProductionId, int Idx, JobOutput Output, long Seed, long FirstEvent, int Events, string[]? Inputs, string Site, short Generation)>> StrandedAsync(NpgsqlConnection conn, int limit) =>
        (await conn.QueryAsync<(long, int, string, long, string, string, string, long, long, int, string[]?, string, short)>("""
            select o.production_id, o.idx, o.name, o.size, o.adler32, o.se, o.pfn, j.seed, j.first_event, j.events, j.inputs, j.site, j.generation
            from output o join job j on j.production_id = o.production_id and j.idx = o.idx
            where j.state = @failed and j.failure_class = @registration
            limit @limit
            """, new { limit, failed = (short)JobState.Failed, registration = (short)FailureClass.Registration }))
        .Select(r => (r.Item1, r.Item2, new JobOutput(r.Item3, r.Item4, r.Item5, r.Item6, r.Item7), r.Item8, r.Item9, r.Item10, r.Item11, r.Item12, r.Item13)).ToList();
}
