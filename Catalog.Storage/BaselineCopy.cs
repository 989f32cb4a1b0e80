using Npgsql;
using NpgsqlTypes;

namespace Catalog.Storage;

/// <summary>
/// Binary COPY of catalog rows, for the load tool's same-run baselines only (never the server's
/// path). The rows are the stores' own row types and the column lists live here, beside the
/// stores, so a migration that changes <c>file</c> or <c>replica</c> breaks the build or this one
/// place, not a benchmark silently.
/// </summary>
public static class BaselineCopy
{
    /// <summary>
    /// File rows with the ids given into <paramref name="table"/>: <c>file</c> itself, or a look-alike
    /// made by <see cref="LookAlikeAsync"/>.
    /// </summary>
    public static async Task FilesAsync(NpgsqlConnection conn, string table, IEnumerable<(long Id, NewFileRow Row)> rows, string owner, string group,
        CancellationToken ct = default)
    {
        await using var w = await conn.BeginBinaryImportAsync(
            $"copy {table} (id, dir_id, name, guid, size, adler32, md5, owner, grp, metadata) from stdin (format binary)", ct);
        foreach (var (id, f) in rows)
        {
            await w.StartRowAsync(ct);
            await w.WriteAsync(id, NpgsqlDbType.Bigint, ct);
            await w.WriteAsync(f.DirId, NpgsqlDbType.Bigint, ct);
            await w.WriteAsync(f.Name, NpgsqlDbType.Text, ct);
            await w.WriteAsync(f.Guid, NpgsqlDbType.Uuid, ct);
            await w.WriteAsync(f.Size, NpgsqlDbType.Bigint, ct);
            await w.WriteAsync(f.Adler32, NpgsqlDbType.Integer, ct);
            if (f.Md5 is null) await w.WriteNullAsync(ct); else await w.WriteAsync(Convert.FromHexString(f.Md5), NpgsqlDbType.Bytea, ct);
            await w.WriteAsync(owner, NpgsqlDbType.Text, ct);
            await w.WriteAsync(group, NpgsqlDbType.Text, ct);
            if (f.Metadata is null) await w.WriteNullAsync(ct); else await w.WriteAsync(f.Metadata, NpgsqlDbType.Jsonb, ct);
        }
        await w.CompleteAsync(ct);
    }

    /// <summary>Replica rows into <paramref name="table"/>: <c>replica</c> itself, or a look-alike.</summary>
    public static async Task ReplicasAsync(NpgsqlConnection conn, string table, IEnumerable<NewReplicaRow> rows, CancellationToken ct = default)
    {
        await using var w = await conn.BeginBinaryImportAsync($"copy {table} (file_id, se_id, state, pfn) from stdin (format binary)", ct);
        foreach (var r in rows)
        {
            await w.StartRowAsync(ct);
            await w.WriteAsync(r.FileId, NpgsqlDbType.Bigint, ct);
            await w.WriteAsync(r.SeId, NpgsqlDbType.Smallint, ct);
            await w.WriteAsync(r.State, NpgsqlDbType.Smallint, ct);
            if (r.Pfn is null) await w.WriteNullAsync(ct); else await w.WriteAsync(r.Pfn, NpgsqlDbType.Text, ct);
        }
        await w.CompleteAsync(ct);
    }

    /// <summary>A fresh table shaped like <paramref name="of"/> (<c>file</c> or <c>replica</c>): same columns, defaults and indexes, no data.</summary>
    public static async Task LookAlikeAsync(NpgsqlConnection conn, string table, string of, CancellationToken ct = default)
    {
        if (of is not ("file" or "replica")) throw new ArgumentException("file or replica", nameof(of));
        await using var cmd = new NpgsqlCommand($"""
            drop table if exists {table};
            create table {table} (like {of} including defaults including indexes{(of == "file" ? " including constraints" : "")});
            """, conn);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// A directory <paramref name="name"/> under <paramref name="parent"/> with the given children
    /// (owner and group inherited); answers the children's ids in order.
    /// </summary>
    public static async Task<long[]> MakeDirectoriesAsync(NpgsqlConnection conn, string parent, string name, IReadOnlyList<string> children, CancellationToken ct = default)
    {
        await using var cmd = new NpgsqlCommand("""
            with base as (
                insert into directory (parent_id, name, path, owner, grp)
                select id, @name, path || '/' || @name, owner, grp from directory where path = @parent
                returning id, path, owner, grp)
            insert into directory (parent_id, name, path, owner, grp)
            select base.id, b.name, base.path || '/' || b.name, base.owner, base.grp
            from base, unnest(@children::text[]) with ordinality as b(name, ord)
            order by b.ord
            returning id
            """, conn);
        cmd.Parameters.AddWithValue("parent", parent);
        cmd.Parameters.AddWithValue("name", name);
        cmd.Parameters.AddWithValue("children", children.ToArray());
        var ids = new List<long>(children.Count);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) ids.Add(reader.GetInt64(0));
        return [.. ids];
    }

    /// <summary>Removes a directory made by <see cref="MakeDirectoriesAsync"/> and its children.</summary>
    public static async Task RemoveDirectoriesAsync(NpgsqlConnection conn, string path, CancellationToken ct = default)
    {
        await using var cmd = new NpgsqlCommand("""
            delete from directory where parent_id = (select id from directory where path = @path);
            delete from directory where path = @path;
            """, conn);
        cmd.Parameters.AddWithValue("path", path);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
