using Dapper;
using Npgsql;

namespace Catalog.Storage;

/// <summary>Parent links between files.</summary>
public static class LineageStore
{
    public static Task LinkAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long[] children, long[] parents, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("""
            insert into file_parent (child_id, parent_id)
            select c, p from unnest(@children::bigint[], @parents::bigint[]) as l(c, p) order by c, p
            on conflict do nothing
            """, new { children, parents }, tx, cancellationToken: ct));

    /// <summary>
    /// Edges reachable from a file up (ancestors) or down (descendants), to <paramref name="depth"/>
    /// steps. With a <paramref name="viewer"/>, the walk never reaches (nor passes through) a file it may not see.
    /// </summary>
    public static async Task<IReadOnlyList<(string Child, string Parent, int Depth)>> WalkAsync(NpgsqlConnection conn, long fileId, bool up, int depth, int limit,
        Viewer? viewer, CancellationToken ct)
    {
        var (from, to) = up ? ("child_id", "parent_id") : ("parent_id", "child_id");
        var (reach, seen) = viewer is null ? ("", "true")
            : ($"join file x on x.id = l.{to} join directory xd on xd.id = x.dir_id", Viewer.FileVisible(viewer, "x", "xd"));
        var sql = $"""
            with recursive walk (child_id, parent_id, depth) as (
                select l.child_id, l.parent_id, 1 from file_parent l {reach} where l.{from} = @fileId and {seen}
                union
                select l.child_id, l.parent_id, w.depth + 1 from file_parent l join walk w on l.{from} = w.{to} {reach}
                where w.depth < @depth and {seen}
            )
            select distinct on (w.child_id, w.parent_id)
                   cd.path || '/' || c.name as Child, pd.path || '/' || p.name as Parent, w.depth
            from walk w
            join file c on c.id = w.child_id join directory cd on cd.id = c.dir_id
            join file p on p.id = w.parent_id join directory pd on pd.id = p.dir_id
            order by w.child_id, w.parent_id, w.depth
            limit @limit
            """;
        return (await conn.QueryAsync<(string, string, int)>(new CommandDefinition(sql, Viewer.With(viewer, new { fileId, depth, limit }), cancellationToken: ct))).AsList();
    }
}
