using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;

namespace Catalog.LoadTests;

/// <summary>
/// What a bulk update of file rows costs on a pooled connection that has served one-row updates
/// before (as every connection of a running server has), beside the same update on a fresh
/// connection. The statement is the one a bulk metadata write runs. Triggers whose plans were
/// cached for one row made it quadratic (schema 012 has the story); this guards that.
/// </summary>
public static class BulkUpdateBench
{
    private const string Update = """
        update file f set metadata = coalesce(f.metadata, '{}') || jsonb_build_object('bench', @round), modified = now()
        from unnest(@ids::bigint[]) as v(id) where f.id = v.id
        """;

    public static async Task<int> RunAsync(Options o)
    {
        var scratch = $"/bench-bulk-update-{Guid.NewGuid():N}";
        var connection = new NpgsqlConnectionStringBuilder(o.Postgres) { Pooling = false }.ConnectionString;
        long[] ids;
        await using (var setup = new NpgsqlConnection(connection))
        {
            await setup.OpenAsync();
            await using var cmd = new NpgsqlCommand("""
                insert into directory (parent_id, name, path, owner, grp) values (null, substr(@path, 2), @path, 'bench', 'bench');
                insert into file (dir_id, name, guid, size, adler32, owner, grp)
                select (select id from directory where path = @path), 'f' || g, gen_random_uuid(), 1000, 1, 'bench', 'bench'
                from generate_series(1, @files) g;
                select array_agg(f.id order by f.id) from file f join directory d on d.id = f.dir_id where d.path = @path;
                """, setup);
            cmd.Parameters.AddWithValue("path", scratch);
            cmd.Parameters.AddWithValue("files", o.Files);
            ids = (long[])(await cmd.ExecuteScalarAsync())!;
        }
        try
        {
            var fresh = new List<double>();
            var served = new List<double>();
            for (var run = 0; run < o.Runs; run++)
            {
                fresh.Add(await TimeAsync(connection, ids, oneRowUpdatesFirst: 0, run));
                served.Add(await TimeAsync(connection, ids, oneRowUpdatesFirst: 8, run));
            }
            fresh.Sort();
            served.Sort();
            var report = new JsonObject
            {
                ["scenario"] = "bulkupdate",
                ["files"] = ids.Length,
                ["runs"] = o.Runs,
                ["after_one_row_updates_ms"] = Math.Round(served[served.Count / 2], 1),
                ["baseline"] = "the same update on a fresh connection (median)",
                ["baseline_ms"] = Math.Round(fresh[fresh.Count / 2], 1),
                ["ratio"] = Math.Round(served[served.Count / 2] / fresh[fresh.Count / 2], 2),
            };
            Console.WriteLine(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            if (o.Json is not null) await File.WriteAllTextAsync(o.Json, report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        finally
        {
            await using var cleanup = new NpgsqlConnection(connection);
            await cleanup.OpenAsync();
            await using var cmd = new NpgsqlCommand("""
                delete from file where dir_id = (select id from directory where path = @path);
                delete from directory_usage where dir_id = (select id from directory where path = @path);
                delete from directory where path = @path;
                """, cleanup);
            cmd.Parameters.AddWithValue("path", scratch);
            await cmd.ExecuteNonQueryAsync();
        }
    }

    /// <summary>
    /// On a new connection: <paramref name="oneRowUpdatesFirst"/> one-row updates (each rolled back),
    /// then the timed bulk update, rolled back too.
    /// </summary>
    private static async Task<double> TimeAsync(string connection, long[] ids, int oneRowUpdatesFirst, int round)
    {
        await using var conn = new NpgsqlConnection(connection);
        await conn.OpenAsync();
        for (var i = 0; i < oneRowUpdatesFirst; i++)
        {
            await using var tx = await conn.BeginTransactionAsync();
            await using var one = new NpgsqlCommand(Update, conn, tx);
            one.Parameters.AddWithValue("round", round);
            one.Parameters.AddWithValue("ids", new[] { ids[i] });
            await one.ExecuteNonQueryAsync();
            await tx.RollbackAsync();
        }
        await using (var tx = await conn.BeginTransactionAsync())
        {
            await using var bulk = new NpgsqlCommand(Update, conn, tx) { CommandTimeout = 600 };
            bulk.Parameters.AddWithValue("round", round);
            bulk.Parameters.AddWithValue("ids", ids);
            var clock = Stopwatch.StartNew();
            await bulk.ExecuteNonQueryAsync();
            var ms = clock.Elapsed.TotalMilliseconds;
            await tx.RollbackAsync();
            return ms;
        }
    }
}
