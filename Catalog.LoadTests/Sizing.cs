using Catalog.Storage;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Catalog.Client;
using Catalog.Contracts;
using HdrHistogram;
using Npgsql;

namespace Catalog.LoadTests;

/// <summary>
/// Bytes on disk per registered file (two replicas each) and the API bulk registration rate,
/// with binary COPY of the same rows into tables shaped like the catalog's as the same-run baseline.
/// </summary>
public static class Sizing
{
    private static readonly string[] Relations = ["file", "replica", "directory", "directory_usage"];

    /// <summary>The two SEs every registered file has a replica on.</summary>
    private static readonly string[] LoadSes = ["LOAD-KEK", "LOAD-DESY"];

    /// <summary>The production directory of a run: its files, the verification and the catalog-table baseline all live under it.</summary>
    private static string ProductionDir(string run) => $"/belle/MC/release-08-01-00/DB00002100/MC15ri/prod{run}";

    public static async Task<int> RunAsync(Options o, string scenario = "sizing")
    {
        var run = DateTime.UtcNow.ToString("yyyyMMddHHmmss");
        var client = o.CreateClient();
        await client.PutStorageElementAsync(LoadSes[0], new StorageElementSpec("KEK", "root", "root://kek.load:1094//belle"));
        await client.PutStorageElementAsync(LoadSes[1], new StorageElementSpec("DESY", "davs", "davs://desy.load/belle"));

        // Bulk first registers --warmup files (not measured) under another production directory, so
        // the measured batches do not pay the server's start: over the first 10-15 s of a run after a
        // restart, compiling its code took about a sixth of the server's CPU.
        if (scenario == "bulk" && o.Warmup > 0)
        {
            var warm = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, o.Warmup).Select(i => NewFile(run + "w", i)).Chunk(o.Batch),
                new ParallelOptions { MaxDegreeOfParallelism = o.Concurrency },
                async (batch, ct) => await client.RegisterAsync(batch, Guid.CreateVersion7().ToString(), ct));
            Console.WriteLine($"warm-up: {o.Warmup:N0} files in {warm.Elapsed.TotalSeconds:F1} s (not measured)");
        }
        await using var db = NpgsqlDataSource.Create(o.Postgres);
        await ExecAsync(db, "vacuum analyze file, replica, directory, directory_usage");
        var before = await SizesAsync(db);

        var files = Enumerable.Range(0, o.Files).Select(i => NewFile(run, i)).ToList();
        var clock = Stopwatch.StartNew();
        var created = 0;
        var failed = 0;
        var batches = new LongConcurrentHistogram(1, TimeSpan.FromMinutes(10).Ticks / 10, 3);
        var timeline = new Timeline(client.Http);
        var errorsByKind = new ConcurrentDictionary<string, int>();
        await Parallel.ForEachAsync(files.Chunk(o.Batch), new ParallelOptions { MaxDegreeOfParallelism = o.Concurrency }, async (batch, ct) =>
        {
            var t = Stopwatch.GetTimestamp();
            var response = await client.RegisterAsync(batch, Guid.CreateVersion7().ToString(), ct);
            var micros = Math.Max(1, Stopwatch.GetElapsedTime(t).Ticks / 10);
            batches.RecordValue(micros);
            timeline.Record(micros);
            Interlocked.Add(ref created, response.Created);
            Interlocked.Add(ref failed, response.Failed);
            foreach (var r in response.Results)
                if (r.Error is { } e) errorsByKind.AddOrUpdate(e.Code.ToString(), 1, (_, n) => n + 1);
            Console.Write($"\rregistered {Volatile.Read(ref created):N0} / {o.Files:N0}");
        });
        var apiSeconds = clock.Elapsed.TotalSeconds;
        await timeline.DisposeAsync();
        Console.WriteLine();
        // Every acknowledged file present exactly once, with its size, checksum and two replicas:
        // the rows under this run's production directory.
        var (present, distinct, wrong) = await VerifyAsync(db, ProductionDir(run) + "/");

        await ExecAsync(db, "vacuum analyze file, replica, directory, directory_usage");
        var after = await SizesAsync(db);
        var copySeconds = await CopyBaselineAsync(db, files);
        var catalogCopySeconds = await CopyIntoCatalogAsync(db, files, run);
        // The rolled-back rows are dead tuples; left to autovacuum, cleaning them would run into the next benchmark.
        await ExecAsync(db, "vacuum file, replica, directory");

        var perFile = Relations.ToDictionary(r => r, r => (after[r] - before[r]) / (double)o.Files);
        var total = perFile.Values.Sum();
        Console.WriteLine($"files registered: {created:N0} of {o.Files:N0} (2 replicas each)");
        foreach (var (relation, bytes) in perFile) Console.WriteLine($"  {relation,-16} {bytes,8:F1} bytes/file (table + indexes + toast)");
        Console.WriteLine($"  {"total",-16} {total,8:F1} bytes/file");
        var apiRate = o.Files / apiSeconds;
        var copyRate = o.Files / copySeconds;
        var catalogCopyRate = o.Files / catalogCopySeconds;
        Console.WriteLine($"API bulk registration: {apiRate:N0} files/s; binary COPY baseline: {copyRate:N0} files/s; ratio {apiRate / copyRate:F2}");
        Console.WriteLine($"binary COPY into the catalog's own tables ({Environment.ProcessorCount} streams, rolled back): {catalogCopyRate:N0} files/s; ratio {apiRate / catalogCopyRate:F2}");

        var report = new System.Text.Json.Nodes.JsonObject
        {
            ["scenario"] = scenario, ["operations"] = o.Files, ["batch"] = o.Batch, ["in_flight"] = o.Concurrency,
            ["warmup_files"] = scenario == "bulk" ? o.Warmup : 0,
            ["seconds"] = Math.Round(apiSeconds, 2), ["throughput_per_s"] = Math.Round(apiRate, 0),
            ["p50_ms"] = batches.GetValueAtPercentile(50) / 1000.0, ["p95_ms"] = batches.GetValueAtPercentile(95) / 1000.0,
            ["p99_ms"] = batches.GetValueAtPercentile(99) / 1000.0, ["max_ms"] = batches.GetMaxValue() / 1000.0,
            ["latency_of"] = $"one batch of {o.Batch}",
            ["errors"] = failed, ["errors_by_kind"] = Report.Counts(errorsByKind),
            ["acknowledged"] = created, ["lost"] = created - present, ["duplicated"] = present - distinct, ["wrong"] = wrong,
            ["bytes_per_file"] = Math.Round(total, 1),
            ["baseline"] = "binary COPY of the same file and replica rows", ["baseline_per_s"] = Math.Round(copyRate, 0),
            ["ratio"] = Math.Round(apiRate / copyRate, 3),
            ["baseline_catalog_tables"] = $"binary COPY of rows of the same shape into the catalog's own file and replica tables, {Environment.ProcessorCount} streams, rolled back",
            ["baseline_catalog_tables_per_s"] = Math.Round(catalogCopyRate, 0), ["ratio_catalog_tables"] = Math.Round(apiRate / catalogCopyRate, 3),
            ["server_memory_max_mb"] = Math.Round(timeline.MaxServerMemoryMb, 0),
        };
        await Report.WriteAsync(o.Json, report, timeline, $"{scenario}: {o.Files:N0} files in batches of {o.Batch:N0}, {o.Concurrency} in flight");
        return created == o.Files && present == created && distinct == present && wrong == 0 ? 0 : 1;
    }

    /// <summary>
    /// Files under <paramref name="prefix"/>: how many, how many distinct LFNs, and how many are
    /// wrong: not exactly one replica on each of the two SEs, or a size or Adler-32 other than
    /// the one <see cref="NewFile"/> gave the index in its name.
    /// </summary>
    private static async Task<(long Present, long Distinct, long Wrong)> VerifyAsync(NpgsqlDataSource db, string prefix)
    {
        await using var cmd = db.CreateCommand("""
            with f as (
                select d.path || '/' || f.name as lfn, f.size, f.adler32, substring(f.name from '^mdst_([0-9]+)_')::bigint as i,
                       (select count(*) from replica r join storage_element s on s.id = r.se_id
                        where r.file_id = f.id and s.name = any(@ses)) as on_load_ses,
                       (select count(*) from replica r where r.file_id = f.id) as replicas
                from file f join directory d on d.id = f.dir_id
                where d.path like @prefix || '%')
            select count(*), count(distinct lfn),
                   count(*) filter (where not (on_load_ses = 2 and replicas = 2 and size = 2000000000 + i
                       and adler32 = ((i * 2654435761) % 4294967296 - case when (i * 2654435761) % 4294967296 >= 2147483648 then 4294967296 else 0 end)))
            from f
            """);
        cmd.Parameters.AddWithValue("prefix", prefix);
        cmd.Parameters.AddWithValue("ses", LoadSes);
        cmd.CommandTimeout = 600;
        await using var reader = await cmd.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
    }

    private static NewFile NewFile(string run, int i)
    {
        var block = i / 1000;
        var lfn = $"{ProductionDir(run)}/s00/e1003/4S/r00000/mixed/mdst/sub{block:00}/mdst_{i:000000}_prod{run}_task{i:00000000000}.root";
        return new NewFile(lfn, 2_000_000_000L + i, unchecked((uint)(i * 2654435761u)).ToString("x8"), Guid.CreateVersion7(),
            Replicas: LoadSes.Select(se => new NewReplica(se)).ToList());
    }

    private static async Task<Dictionary<string, long>> SizesAsync(NpgsqlDataSource db)
    {
        var sizes = new Dictionary<string, long>();
        foreach (var r in Relations)
        {
            await using var cmd = db.CreateCommand($"select pg_total_relation_size('{r}')");
            sizes[r] = (long)(await cmd.ExecuteScalarAsync())!;
        }
        return sizes;
    }

    /// <summary>
    /// The second baseline: binary COPY into the catalog's own <c>file</c> and <c>replica</c>
    /// tables, one stream per core (the API gets several batches in flight too), each in a
    /// transaction that is rolled back. The rows are the registered ones (names, sizes, checksums,
    /// two replicas on the same SEs) under a parallel set of new directories, with new GUIDs and
    /// negative ids, so no unique key clashes with the rows the API stored. Unlike the look-alike
    /// tables, these indexes hold the whole catalog, and the foreign keys and usage triggers fire:
    /// what PostgreSQL itself pays to store the rows here, without the API. Only the COPY
    /// statements are timed; the directories are made before and removed after.
    /// </summary>
    private static async Task<double> CopyIntoCatalogAsync(NpgsqlDataSource db, List<NewFile> files, string run)
    {
        var baseDir = ProductionDir(run) + "/copy-baseline";
        long[] dirIds;
        await using (var conn = await db.OpenConnectionAsync())
            dirIds = await BaselineCopy.MakeDirectoriesAsync(conn, ProductionDir(run), "copy-baseline",
                Enumerable.Range(0, (files.Count + 999) / 1000).Select(b => $"sub{b:00}").ToList());
        var seIds = new List<short>();
        await using (var cmd = db.CreateCommand("select id from storage_element where name = any(@ses) order by id"))
        {
            cmd.Parameters.AddWithValue("ses", LoadSes);
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync()) seIds.Add(reader.GetInt16(0));
        }
        try
        {
            var streams = Environment.ProcessorCount;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, streams).Select(k => CopyStreamAsync(db, files, dirIds, seIds,
                Enumerable.Range(0, files.Count).Where(i => i / 1000 % streams == k).ToList())));
            return clock.Elapsed.TotalSeconds;
        }
        finally
        {
            await using var conn = await db.OpenConnectionAsync();
            await BaselineCopy.RemoveDirectoriesAsync(conn, baseDir);
        }
    }

    private static async Task CopyStreamAsync(NpgsqlDataSource db, List<NewFile> files, long[] dirIds, List<short> seIds, List<int> slice)
    {
        await using var conn = await db.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await CopyRowsAsync(conn, "file", "replica", files, slice, i => -(long)i - 1, i => dirIds[i / 1000], _ => Guid.CreateVersion7(), seIds);
        await tx.RollbackAsync();
    }

    /// <summary>Binary COPY of the same file and replica rows into look-alike tables (same indexes), then dropped.</summary>
    private static async Task<double> CopyBaselineAsync(NpgsqlDataSource db, List<NewFile> files)
    {
        await using (var conn = await db.OpenConnectionAsync())
        {
            await BaselineCopy.LookAlikeAsync(conn, "bench_file", "file");
            await BaselineCopy.LookAlikeAsync(conn, "bench_replica", "replica");
        }
        try
        {
            var clock = Stopwatch.StartNew();
            await using var conn = await db.OpenConnectionAsync();
            await using (var tx = await conn.BeginTransactionAsync())
            {
                await CopyRowsAsync(conn, "bench_file", "bench_replica", files, Enumerable.Range(0, files.Count).ToList(),
                    i => (long)i + 1, i => (long)(i / 1000), i => files[i].Guid!.Value, [1, 2]);
                await tx.CommitAsync();
            }
            return clock.Elapsed.TotalSeconds;
        }
        finally
        {
            await ExecAsync(db, "drop table if exists bench_replica, bench_file");
        }
    }

    /// <summary>The file rows of <paramref name="slice"/> and their replicas on <paramref name="seIds"/>, as the stores' row types, by binary COPY.</summary>
    private static async Task CopyRowsAsync(NpgsqlConnection conn, string fileTable, string replicaTable, List<NewFile> files, List<int> slice,
        Func<int, long> id, Func<int, long> dirId, Func<int, Guid> guid, IReadOnlyList<short> seIds)
    {
        await BaselineCopy.FilesAsync(conn, fileTable, slice.Select(i => (id(i), new NewFileRow(dirId(i), files[i].Lfn![(files[i].Lfn!.LastIndexOf('/') + 1)..],
            guid(i), files[i].Size!.Value, unchecked((int)Convert.ToUInt32(files[i].Adler32, 16)), null, null))), "belle", "belle");
        await BaselineCopy.ReplicasAsync(conn, replicaTable, slice.SelectMany(i => seIds.Select(se => new NewReplicaRow(id(i), se, 0, null))));
    }

    private static async Task ExecAsync(NpgsqlDataSource db, string sql)
    {
        await using var cmd = db.CreateCommand(sql);
        await cmd.ExecuteNonQueryAsync();
    }
}
