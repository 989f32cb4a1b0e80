using Dapper;
using Npgsql;

namespace Catalog.Storage;

/// <summary>
/// Directories. Locking protocol that keeps a name from being both a file and a directory:
/// whoever creates a directory first locks its parent <c>for update</c>; whoever creates a file
/// first locks its parent <c>for key share</c> (the lock the foreign key takes anyway). The two
/// conflict, so each side's "is the name free" check sees the other's committed row.
/// </summary>
public static class DirectoryStore
{
    private const string Columns = "id, parent_id as ParentId, name, path, owner, grp, mode, created, modified, eff_metadata::text as EffMetadata";

    public static Task<DirectoryRow?> GetAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string path, CancellationToken ct, bool forUpdate = false)
    {
        var sql = $"select {Columns} from directory where path = @path" + (forUpdate ? " for update" : "");
        return conn.QuerySingleOrDefaultAsync<DirectoryRow>(new CommandDefinition(sql, new { path }, tx, cancellationToken: ct));
    }

    /// <summary>Resolves paths to ids; absent paths are missing from the answer.</summary>
    /// <summary>The directories among <paramref name="paths"/> that exist.</summary>
    public static async Task<IReadOnlyList<DirectoryRow>> GetManyAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string[] paths, CancellationToken ct)
    {
        var sql = $"select {Columns} from directory where path = any(@paths)";
        return (await conn.QueryAsync<DirectoryRow>(new CommandDefinition(sql, new { paths }, tx, cancellationToken: ct))).AsList();
    }

    public static async Task<Dictionary<string, long>> GetIdsAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string[] paths, CancellationToken ct)
    {
        const string sql = "select path, id from directory where path = any(@paths)";
        var rows = await conn.QueryAsync<(string Path, long Id)>(new CommandDefinition(sql, new { paths }, tx, cancellationToken: ct));
        return rows.ToDictionary(r => r.Path, r => r.Id, StringComparer.Ordinal);
    }

    /// <summary>Bounds how long the rest of this transaction waits for any lock (SQLSTATE 55P03 past it).</summary>
    public static Task SetLockTimeoutAsync(NpgsqlConnection conn, NpgsqlTransaction tx, TimeSpan timeout, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("select set_config('lock_timeout', @ms, true)",
            new { ms = $"{(int)timeout.TotalMilliseconds}ms" }, tx, cancellationToken: ct));

    /// <summary>Locks directories in id order (a fixed order, so lockers cannot deadlock).</summary>
    public static Task LockAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long[] ids, bool exclusive, CancellationToken ct)
    {
        var sql = exclusive
            ? "select id from directory where id = any(@ids) order by id for update"
            : "select id from directory where id = any(@ids) order by id for key share";
        return conn.ExecuteAsync(new CommandDefinition(sql, new { ids }, tx, cancellationToken: ct));
    }

    /// <summary>
    /// Inserts child directories (parents already locked by the caller), skipping names held by a
    /// file, and returns the ids of all that now exist, including ones a concurrent caller made.
    /// </summary>
    public static async Task<List<(string Path, long Id)>> InsertChildrenAsync(NpgsqlConnection conn, NpgsqlTransaction tx,
        long[] parentIds, string[] names, string[] paths, string owner, int? mode, CancellationToken ct)
    {
        const string sql = """
            with wanted as (
                select w.parent_id, w.name, w.path
                from unnest(@parentIds::bigint[], @names::text[], @paths::text[]) as w(parent_id, name, path)
                where not exists (select 1 from file f where f.dir_id = w.parent_id and f.name = w.name)
            ), inserted as (
                insert into directory (parent_id, name, path, owner, grp, mode, eff_metadata)
                select w.parent_id, w.name, w.path, @owner, p.grp, coalesce(@mode, p.mode), p.eff_metadata
                from wanted w join directory p on p.id = w.parent_id
                order by w.path
                on conflict do nothing
                returning path, id
            )
            select path, id from inserted
            union all
            select d.path, d.id from directory d join wanted w on w.path = d.path
            """;
        var rows = await conn.QueryAsync<(string Path, long Id)>(new CommandDefinition(sql,
            new { parentIds, names, paths, owner, mode }, tx, cancellationToken: ct));
        return rows.AsList();
    }

    /// <summary>Which (directory, name) pairs are taken by a subdirectory.</summary>
    public static async Task<HashSet<(long, string)>> ExistingChildrenAsync(NpgsqlConnection conn, NpgsqlTransaction tx,
        long[] parentIds, string[] names, CancellationToken ct)
    {
        const string sql = """
            select d.parent_id, d.name
            from unnest(@parentIds::bigint[], @names::text[]) as w(parent_id, name)
            join directory d on d.parent_id = w.parent_id and d.name = w.name
            """;
        var rows = await conn.QueryAsync<(long, string)>(new CommandDefinition(sql, new { parentIds, names }, tx, cancellationToken: ct));
        return rows.ToHashSet();
    }

    /// <summary>
    /// One page of a listing, subdirectories and files merged by name (byte order). Each side
    /// reads at most <paramref name="limit"/> rows through its (parent, name) index, so a page
    /// costs the same in a directory of ten entries or of a million. With a
    /// <paramref name="viewer"/>, entries it may not see are left out before the limit: files it
    /// may not read, directories it may not read or search.
    /// </summary>
    public static async Task<IReadOnlyList<EntryRow>> ListAsync(NpgsqlConnection conn, long dirId, string after, int limit, Viewer? viewer, CancellationToken ct)
    {
        var (dirs, files) = viewer is null ? ("true", "true") : ($"{Viewer.Permits("d", 4)} and {Viewer.Permits("d", 1)}", Viewer.Permits("f", 4));
        var sql = $"""
            select * from (
                (select 0::smallint as kind, d.name, d.owner, d.grp, d.mode, d.created, d.modified,
                        null::uuid as guid, null::bigint as size, null::integer as adler32
                 from directory d where d.parent_id = @dirId and d.name > @after and {dirs}
                 order by d.name limit @limit)
                union all
                (select 1::smallint, f.name, f.owner, f.grp, f.mode::integer, f.created, f.modified,
                        f.guid, f.size, f.adler32
                 from file f where f.dir_id = @dirId and f.name > @after and {files}
                 order by f.name limit @limit)
            ) e
            order by e.name
            limit @limit
            """;
        var rows = await conn.QueryAsync<EntryRow>(new CommandDefinition(sql, Viewer.With(viewer, new { dirId, after, limit }), cancellationToken: ct));
        return rows.AsList();
    }

    public static Task<bool> IsEmptyAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long dirId, CancellationToken ct)
    {
        const string sql = """
            select not exists (select 1 from directory where parent_id = @dirId)
               and not exists (select 1 from file where dir_id = @dirId)
            """;
        return conn.ExecuteScalarAsync<bool>(new CommandDefinition(sql, new { dirId }, tx, cancellationToken: ct));
    }

    /// <summary>
    /// Moves a subtree: rewrites the path of every directory in it (the unique path index keeps
    /// this safe) and re-parents its top. File rows are untouched: they hang off directory ids.
    /// </summary>
    public static async Task MoveSubtreeAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long dirId, string from, string to,
        long newParentId, string newName, CancellationToken ct)
    {
        const string sql = """
            update directory
            set path = @to || substr(path, length(@from) + 1),
                parent_id = case when id = @dirId then @newParentId else parent_id end,
                name = case when id = @dirId then @newName else name end,
                modified = case when id = @dirId then now() else modified end
            where path = @from or (path >= @from || '/' and path < @from || '0')
            """;
        await conn.ExecuteAsync(new CommandDefinition(sql, new { dirId, from, to, newParentId, newName }, tx, cancellationToken: ct));
    }

    /// <summary>
    /// Removes a subtree bottom-up in three set-based statements: replicas, then files (the
    /// usage triggers need the file rows while replicas go), then directories.
    /// </summary>
    public static async Task<(long Files, long Directories)> DeleteSubtreeAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string path, CancellationToken ct)
    {
        const string sql = """
            create temp table if not exists doomed_dir (id bigint primary key) on commit drop;
            insert into doomed_dir (id)
            select id from directory where path = @path or (path >= @path || '/' and path < @path || '0');
            delete from replica r using file f, doomed_dir d where f.id = r.file_id and f.dir_id = d.id;
            with gone as (delete from file f using doomed_dir d where f.dir_id = d.id returning 1)
            select count(*) from gone;
            delete from directory_usage u using doomed_dir d where u.dir_id = d.id;
            -- Collections inside the subtree let go of their members first: deleted in the same
            -- statement as a member, a collection's cascade could come after the member's foreign-key
            -- check, which then failed (a 500 for removing a subtree holding a collection and its datasets).
            delete from collection_member m using doomed_dir d where m.collection_id = d.id;
            with gone as (delete from directory x using doomed_dir d where x.id = d.id returning 1)
            select count(*) from gone;
            """;
        await using var multi = await conn.QueryMultipleAsync(new CommandDefinition(sql, new { path }, tx, cancellationToken: ct));
        var files = await multi.ReadSingleAsync<long>();
        var directories = await multi.ReadSingleAsync<long>();
        return (files, directories);
    }

    /// <summary>
    /// Files, bytes and replicas per SE (se_id 0: the files themselves) under a subtree, and its
    /// directory count. With a <paramref name="viewer"/>, what it may not see is not counted:
    /// subtrees behind a gate closed to it, and files it may not read (found through the small
    /// index of files not everyone may read, and taken off the counters).
    /// </summary>
    public static async Task<(IReadOnlyList<UsageRow> Usage, long Directories)> UsageAsync(NpgsqlConnection conn, string path, Viewer? viewer, CancellationToken ct)
    {
        const string range = "(d.path = @path or (d.path >= @path || '/' and d.path < @path || '0'))";
        var counted = viewer is null ? "" : $"""
            union all
            select x.se_id, -1, -f.size
            from file f join directory d on d.id = f.dir_id
            cross join lateral (select 0::smallint as se_id union all select r.se_id from replica r where r.file_id = f.id) x
            where (f.mode & 292) <> 292 and {range} and {Viewer.Searchable("d")} and not {Viewer.Permits("f", 4)}
            """;
        var sql = $"""
            select count(*) from directory d where {range} and {Viewer.DirectoryVisible(viewer, "d")};
            select se_id as SeId, sum(files)::bigint as files, sum(bytes)::bigint as bytes from (
                select u.se_id, u.files, u.bytes
                from directory d join directory_usage u on u.dir_id = d.id
                where {range} {(viewer is null ? "" : "and " + Viewer.Searchable("d"))}
                {counted}) u
            group by se_id order by se_id;
            """;
        await using var multi = await conn.QueryMultipleAsync(new CommandDefinition(sql, Viewer.With(viewer, new { path }), cancellationToken: ct));
        var directories = await multi.ReadSingleAsync<long>();
        var usage = (await multi.ReadAsync<UsageRow>()).AsList();
        return (usage, directories - 1);
    }

    /// <summary>Sets owner, group and mode of one directory (null keeps the value).</summary>
    /// <summary>
    /// chmod -R / chown -R of a subtree in two set-based statements: every directory at or below
    /// <paramref name="path"/> gets <paramref name="mode"/>, every file in them <paramref name="fileMode"/>
    /// (the same bits without x). The gate trigger re-derives the gates of what changed.
    /// </summary>
    public static async Task<(long Directories, long Files)> SetOwnershipSubtreeAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string path,
        string? owner, string? grp, int? mode, int? fileMode, CancellationToken ct)
    {
        const string sql = """
            with changed as (
                update directory set owner = coalesce(@owner, owner), grp = coalesce(@grp, grp), mode = coalesce(@mode, mode), modified = now()
                where path = @path or (path >= @path || '/' and path < @path || '0')
                returning id)
            select count(*) from changed;
            with changed as (
                update file f set owner = coalesce(@owner, f.owner), grp = coalesce(@grp, f.grp), mode = coalesce(@fileMode, f.mode), modified = now()
                from directory d
                where f.dir_id = d.id and (d.path = @path or (d.path >= @path || '/' and d.path < @path || '0'))
                returning 1)
            select count(*) from changed;
            """;
        await using var multi = await conn.QueryMultipleAsync(new CommandDefinition(sql,
            new { path, owner, grp, mode = (short?)mode, fileMode = (short?)fileMode }, tx, cancellationToken: ct));
        return (await multi.ReadSingleAsync<long>(), await multi.ReadSingleAsync<long>());
    }

    public static Task SetOwnershipAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long id, string? owner, string? grp, int? mode, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("""
            update directory set owner = coalesce(@owner, owner), grp = coalesce(@grp, grp), mode = coalesce(@mode, mode), modified = now()
            where id = @id
            """, new { id, owner, grp, mode }, tx, cancellationToken: ct));
}
