using System.Globalization;
using Dapper;
using Npgsql;

namespace Catalog.Storage;

public sealed record DatasetRow(long DirId, int MaxFiles, int CurrentBlock, int CurrentCount, short State, DateTime? Closed, DateTime? Expires);

/// <summary>Datasets (LPNs) and their datablocks subNN.</summary>
public static class DatasetStore
{
    public const short DirectoryKind = 0, DatasetKind = 1, DatablockKind = 2, CollectionKind = 3;

    public static string BlockName(int block) => "sub" + block.ToString("D2", CultureInfo.InvariantCulture);

    /// <summary>The dataset at <paramref name="path"/>, its row locked until the transaction ends.</summary>
    public static Task<DatasetRow?> LockAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string path, CancellationToken ct) =>
        conn.QuerySingleOrDefaultAsync<DatasetRow?>(new CommandDefinition("""
            select s.dir_id as DirId, s.max_files as MaxFiles, s.current_block as CurrentBlock, s.current_count as CurrentCount,
                   s.state as State, s.closed as Closed, s.expires as Expires
            from dataset s join directory d on d.id = s.dir_id where d.path = @path for update of s
            """, new { path }, tx, cancellationToken: ct));

    public static Task<DatasetRow?> GetAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, long dirId, CancellationToken ct) =>
        conn.QuerySingleOrDefaultAsync<DatasetRow?>(new CommandDefinition("""
            select dir_id as DirId, max_files as MaxFiles, current_block as CurrentBlock, current_count as CurrentCount,
                   state as State, closed as Closed, expires as Expires
            from dataset where dir_id = @dirId
            """, new { dirId }, tx, cancellationToken: ct));

    /// <summary>Which of <paramref name="names"/> already sit in a datablock of the dataset: name -> block path.</summary>
    public static async Task<Dictionary<string, string>> FindNamesAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long datasetId, string[] names, CancellationToken ct) =>
        (await conn.QueryAsync<(string Name, string Block)>(new CommandDefinition("""
            select f.name, b.path from directory b join file f on f.dir_id = b.id
            where b.parent_id = @datasetId and b.kind = 2 and f.name = any(@names)
            """, new { datasetId, names }, tx, cancellationToken: ct))).ToDictionary(r => r.Name, r => r.Block, StringComparer.Ordinal);

    /// <summary>
    /// Which of <paramref name="paths"/> are closed datasets. Every dataset among them has its row
    /// share-locked until the transaction ends, so a close cannot commit between this check and the
    /// files it let in.
    /// </summary>
    public static async Task<HashSet<string>> ClosedAmongAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string[] paths, CancellationToken ct) =>
        paths.Length == 0 ? [] : (await conn.QueryAsync<(string Path, short State)>(new CommandDefinition("""
            select d.path, s.state from directory d join dataset s on s.dir_id = d.id
            where d.path = any(@paths) order by s.dir_id for share of s
            """, new { paths }, tx, cancellationToken: ct))).Where(r => r.State == 1).Select(r => r.Path).ToHashSet(StringComparer.Ordinal);

    /// <summary>Which of the datasets <paramref name="dirIds"/> are open.</summary>
    public static async Task<HashSet<long>> OpenAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long[] dirIds, CancellationToken ct) =>
        dirIds.Length == 0 ? [] : (await conn.QueryAsync<long>(new CommandDefinition(
            "select dir_id from dataset where dir_id = any(@dirIds) and state = 0", new { dirIds }, tx, cancellationToken: ct))).ToHashSet();

    /// <summary>Opens (0) or closes (1) a dataset; closing records when.</summary>
    public static Task SetStateAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long dirId, short state, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("""
            update dataset set state = @state, closed = case when @state = 1 then coalesce(closed, now()) end where dir_id = @dirId
            """, new { dirId, state }, tx, cancellationToken: ct));

    public static Task SetExpiresAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long dirId, DateTimeOffset? expires, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("update dataset set expires = @expires where dir_id = @dirId",
            new { dirId, expires }, tx, cancellationToken: ct));

    public static Task SetCurrentAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long datasetId, int block, int count, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("update dataset set current_block = @block, current_count = @count where dir_id = @datasetId",
            new { datasetId, block, count }, tx, cancellationToken: ct));

    public static Task MarkBlocksAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long[] dirIds, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("update directory set kind = 2 where id = any(@dirIds) and kind = 0",
            new { dirIds }, tx, cancellationToken: ct));

    /// <summary>
    /// Totals over the files below a dataset (values read from the file or inherited, wherever
    /// they are set), and per SE how many of its files have an available replica there (state 0:
    /// one set unavailable, bad or still being copied does not make a dataset complete on an SE).
    /// </summary>
    public static async Task<(DatasetTotals Totals, IReadOnlyList<(string Se, long Files, long Bytes)> PerSe)> SummaryAsync(
        NpgsqlConnection conn, string path, long datasetId, Viewer? viewer, CancellationToken ct)
    {
        var sql = $"""
            with f as (
                select f.id, f.size, f.metadata, d.eff_metadata
                from file f join directory d on d.id = f.dir_id
                where d.path > @path || '/' and d.path < @path || '0' and {Viewer.FileVisible(viewer, "f", "d")}
            )
            select count(*) as Files, coalesce(sum(size), 0)::bigint as Bytes,
                   sum(coalesce(num(f.metadata, 'nEvents'), num(f.eff_metadata, 'nEvents')))::bigint as Events,
                   min(v.exp_low)::bigint as ExpLow, max(v.exp_high)::bigint as ExpHigh, min(v.run_low)::bigint as RunLow, max(v.run_high)::bigint as RunHigh,
                   (select count(*) from directory b where b.parent_id = @id and b.kind = 2 and {Viewer.DirectoryVisible(viewer, "b")})::int as Datablocks
            from f, lateral (select
                    coalesce(num(f.metadata, 'experimentLow'), num(f.metadata, 'experiment'), num(f.eff_metadata, 'experimentLow'), num(f.eff_metadata, 'experiment')) as exp_low,
                    coalesce(num(f.metadata, 'experimentHigh'), num(f.metadata, 'experiment'), num(f.eff_metadata, 'experimentHigh'), num(f.eff_metadata, 'experiment')) as exp_high,
                    coalesce(num(f.metadata, 'runLow'), num(f.metadata, 'run'), num(f.eff_metadata, 'runLow'), num(f.eff_metadata, 'run')) as run_low,
                    coalesce(num(f.metadata, 'runHigh'), num(f.metadata, 'run'), num(f.eff_metadata, 'runHigh'), num(f.eff_metadata, 'run')) as run_high) v;
            select s.name as Se, count(distinct r.file_id) as Files, coalesce(sum(fl.size), 0) as Bytes
            from directory d join file fl on fl.dir_id = d.id join replica r on r.file_id = fl.id join storage_element s on s.id = r.se_id
            where d.path > @path || '/' and d.path < @path || '0' and r.state = 0 and {Viewer.FileVisible(viewer, "fl", "d")}
            group by s.name order by s.name;
            """;
        await using var multi = await conn.QueryMultipleAsync(new CommandDefinition(sql, Viewer.With(viewer, new { path, id = datasetId }), cancellationToken: ct));
        var totals = await multi.ReadSingleAsync<DatasetTotals>();
        return (totals, (await multi.ReadAsync<(string, long, long)>()).AsList());
    }

    /// <summary>
    /// Datasets at or below <paramref name="path"/>, by path, after <paramref name="after"/>, with their
    /// length (files) and creation time, optionally within windows of both. The length comes from the
    /// per-directory counters, or, for a viewer from whom files may be hidden, from the files it sees.
    /// </summary>
    public static async Task<IReadOnlyList<(string Path, int MaxFiles, int CurrentBlock, string? Metadata, DateTime Created, long Files, short State, DateTime? Expires)>> ListAsync(
        NpgsqlConnection conn, string path, string after, int limit, Viewer? viewer, DatasetWindow window, CancellationToken ct)
    {
        var length = viewer is null
            ? """
              select coalesce(sum(u.files), 0)::bigint as files from directory c join directory_usage u on u.dir_id = c.id and u.se_id = 0
              where c.path = d.path or (c.path > d.path || '/' and c.path < d.path || '0')
              """
            : $"""
              select count(*) as files from directory c join file f on f.dir_id = c.id
              where (c.path = d.path or (c.path > d.path || '/' and c.path < d.path || '0')) and {Viewer.FileVisible(viewer, "f", "c")}
              """;
        return (await conn.QueryAsync<(string, int, int, string?, DateTime, long, short, DateTime?)>(new CommandDefinition($"""
            select d.path, s.max_files, s.current_block, d.metadata::text, d.created, n.files, s.state, s.expires
            from directory d join dataset s on s.dir_id = d.id cross join lateral ({length}) n
            where (d.path = @path or (d.path > @path || '/' and d.path < @path || '0')) and d.path > @after and {Viewer.DirectoryVisible(viewer, "d")}
              and (@minFiles::bigint is null or n.files >= @minFiles) and (@maxFiles::bigint is null or n.files <= @maxFiles)
              and (@createdFrom::timestamptz is null or d.created >= @createdFrom) and (@createdTo::timestamptz is null or d.created < @createdTo)
              and (not @expired or s.expires <= now())
            order by d.path limit @limit
            """, Viewer.With(viewer, new { path, after, limit, window.MinFiles, window.MaxFiles, window.CreatedFrom, window.CreatedTo, expired = window.Expired }), cancellationToken: ct))).AsList();
    }

    public static Task CreateAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long dirId, int maxFiles, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("""
            update directory set kind = 1 where id = @dirId;
            insert into dataset (dir_id, max_files) values (@dirId, @maxFiles) on conflict (dir_id) do nothing;
            """, new { dirId, maxFiles }, tx, cancellationToken: ct));
}

public sealed record DatasetTotals(long Files, long Bytes, long? Events, long? ExpLow, long? ExpHigh, long? RunLow, long? RunHigh, int Datablocks);

/// <summary>Windows of a dataset list: length in files, [from, to) of creation time; null bounds are open.</summary>
/// <param name="Expired">Only datasets whose lifetime has passed (flagged for deletion).</param>
public sealed record DatasetWindow(long? MinFiles = null, long? MaxFiles = null, DateTimeOffset? CreatedFrom = null, DateTimeOffset? CreatedTo = null, bool Expired = false);
