using Dapper;
using Npgsql;

namespace Catalog.Storage;

/// <summary>A collection as stored (a class: Dapper fills array columns through properties).</summary>
public sealed class CollectionRow
{
    public string Path { get; init; } = "";
    public string? Metadata { get; init; }
    public DateTime Created { get; init; }
    public string[] Members { get; init; } = [];
}

/// <summary>Frozen collections: their members, and what holds what.</summary>
public static class CollectionStore
{
    /// <summary>Marks <paramref name="id"/> a collection holding <paramref name="members"/>.</summary>
    public static Task CreateAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long id, long[] members, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("""
            update directory set kind = 3 where id = @id;
            insert into collection_member (collection_id, member_id) select @id, unnest(@members::bigint[]) on conflict do nothing;
            """, new { id, members }, tx, cancellationToken: ct));

    /// <summary>Whether the collection contains itself, directly or through others.</summary>
    public static Task<bool> ContainsItselfAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long id, CancellationToken ct) =>
        conn.ExecuteScalarAsync<bool>(new CommandDefinition("""
            with recursive m (id) as (
                select member_id from collection_member where collection_id = @id
                union select c.member_id from collection_member c join m on c.collection_id = m.id)
            select exists (select 1 from m where id = @id)
            """, new { id }, tx, cancellationToken: ct));

    /// <summary>The collection at <paramref name="path"/> (or, with <paramref name="subtree"/>, every one at or below it) with members.</summary>
    /// <remarks>With a <paramref name="viewer"/>, collections and members it may not see are left out.</remarks>
    public static async Task<IReadOnlyList<CollectionRow>> ReadAsync(NpgsqlConnection conn, string path, bool subtree, Viewer? viewer, CancellationToken ct) =>
        (await conn.QueryAsync<CollectionRow>(new CommandDefinition($"""
            select c.path, c.metadata::text as metadata, c.created,
                   array(select d.path from collection_member m join directory d on d.id = m.member_id
                         where m.collection_id = c.id and {Viewer.DirectoryVisible(viewer, "d")} order by d.path) as members
            from directory c
            where c.kind = 3 and {(subtree ? "(c.path = @path or (c.path > @path || '/' and c.path < @path || '0'))" : "c.path = @path")}
              and {Viewer.DirectoryVisible(viewer, "c")}
            order by c.path limit 10000
            """, Viewer.With(viewer, new { path }), cancellationToken: ct))).AsList();

    /// <summary>Path and kind of a collection and everything it holds, through nested collections; empty when not a collection.</summary>
    public static async Task<IReadOnlyList<(string Path, short Kind)>> ClosureAsync(NpgsqlConnection conn, string path, CancellationToken ct) =>
        (await conn.QueryAsync<(string, short)>(new CommandDefinition("""
            with recursive c (id) as (
                select id from directory where path = @path and kind = 3
                union
                select m.member_id from collection_member m join c on m.collection_id = c.id)
            select d.path, d.kind from c join directory d on d.id = c.id
            """, new { path }, cancellationToken: ct))).AsList();

    /// <summary>A collection outside the subtree at <paramref name="path"/> that holds something inside it.</summary>
    public static Task<string?> HolderOutsideAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string path, CancellationToken ct) =>
        conn.QueryFirstOrDefaultAsync<string?>(new CommandDefinition("""
            select c.path from collection_member m join directory c on c.id = m.collection_id join directory d on d.id = m.member_id
            where (d.path = @p or (d.path > @p || '/' and d.path < @p || '0')) and not (c.path = @p or (c.path > @p || '/' and c.path < @p || '0'))
            limit 1
            """, new { p = path }, tx, cancellationToken: ct));
}
