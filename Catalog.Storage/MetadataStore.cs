using Dapper;
using Npgsql;

namespace Catalog.Storage;

/// <summary>An attribute declaration with the path of the directory that declares it.</summary>
public sealed class AttributeDefRow
{
    public int Id { get; init; }
    public long DirId { get; init; }
    public string Path { get; init; } = "";
    public string Name { get; init; } = "";
    public short Target { get; init; }
    public short Type { get; init; }
    public string? Allowed { get; init; }
    public bool Indexed { get; init; }
    public string? Pattern { get; init; }
}

public sealed record PolicyRow(long DirId, string Path, bool Permissive);

/// <summary>Attribute declarations, metadata policies and directory values.</summary>
public static class MetadataStore
{
    /// <summary>Declarations made on any of <paramref name="paths"/> (the ancestors of what is being checked).</summary>
    public static async Task<IReadOnlyList<AttributeDefRow>> DefinitionsOnAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string[] paths, CancellationToken ct) =>
        (await conn.QueryAsync<AttributeDefRow>(new CommandDefinition("""
            select a.id, a.dir_id as DirId, d.path, a.name, a.target, a.type, a.allowed::text as allowed, a.indexed, a.pattern
            from attribute_def a join directory d on d.id = a.dir_id
            where d.path = any(@paths)
            """, new { paths }, tx, cancellationToken: ct))).AsList();

    /// <summary>Declarations anywhere below any of <paramref name="paths"/> (of <paramref name="name"/> only, when given).</summary>
    public static async Task<IReadOnlyList<AttributeDefRow>> DefinitionsBelowAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string[] paths, string? name, CancellationToken ct) =>
        (await conn.QueryAsync<AttributeDefRow>(new CommandDefinition("""
            select a.id, a.dir_id as DirId, d.path, a.name, a.target, a.type, a.allowed::text as allowed, a.indexed, a.pattern
            from attribute_def a join directory d on d.id = a.dir_id, unnest(@paths::text[]) s
            where (@name::text is null or a.name = @name) and d.path > s || '/' and d.path < s || '0'
            """, new { paths, name }, tx, cancellationToken: ct))).AsList();

    public static async Task<IReadOnlyList<PolicyRow>> PoliciesOnAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string[] paths, CancellationToken ct) =>
        (await conn.QueryAsync<PolicyRow>(new CommandDefinition("""
            select p.dir_id as DirId, d.path, p.permissive from metadata_policy p join directory d on d.id = p.dir_id where d.path = any(@paths)
            """, new { paths }, tx, cancellationToken: ct))).AsList();

    public static Task InsertDefinitionAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long dirId, string name, short target, short type,
        string? allowed, bool indexed, string? pattern, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("""
            insert into attribute_def (dir_id, name, target, type, allowed, indexed, pattern)
            values (@dirId, @name, @target, @type, @allowed::jsonb, @indexed, @pattern)
            """, new { dirId, name, target, type, allowed, indexed, pattern }, tx, cancellationToken: ct));

    /// <summary>Replaces the allowed-value list of the declaration of <paramref name="name"/> made on <paramref name="dirId"/>.</summary>
    public static Task SetAllowedAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long dirId, string name, string allowed, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("update attribute_def set allowed = @allowed::jsonb where dir_id = @dirId and name = @name",
            new { dirId, name, allowed }, tx, cancellationToken: ct));

    public static Task<int> DeleteDefinitionAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long dirId, string name, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("delete from attribute_def where dir_id = @dirId and name = @name",
            new { dirId, name }, tx, cancellationToken: ct));

    /// <summary>Whether any entry at or below <paramref name="path"/> carries a value of <paramref name="name"/>.</summary>
    public static Task<bool> AnyValueAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string path, string name, bool files, CancellationToken ct) =>
        conn.ExecuteScalarAsync<bool>(new CommandDefinition(files
            ? """
              select exists (select 1 from file f join directory d on d.id = f.dir_id
                             where (d.path = @path or (d.path > @path || '/' and d.path < @path || '0')) and f.metadata ? @name)
              """
            : """
              select exists (select 1 from directory d
                             where (d.path = @path or (d.path > @path || '/' and d.path < @path || '0')) and d.metadata ? @name)
              """, new { path, name }, tx, cancellationToken: ct));

    public static Task SetPolicyAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long dirId, bool permissive, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("""
            insert into metadata_policy (dir_id, permissive) values (@dirId, @permissive)
            on conflict (dir_id) do update set permissive = excluded.permissive
            """, new { dirId, permissive }, tx, cancellationToken: ct));

    /// <summary>
    /// Applies a change of a directory's own values: sets <paramref name="set"/> (JSON object) and removes
    /// <paramref name="unset"/> on the directory, and the same on eff_metadata of it and every directory below.
    /// </summary>
    public static Task ChangeDirectoryValuesAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long dirId, string path, string set, string[] unset, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("""
            update directory set metadata = nullif((coalesce(metadata, '{}') || @set::jsonb) - @unset, '{}'::jsonb), modified = now()
            where id = @dirId;
            update directory set eff_metadata = nullif((coalesce(eff_metadata, '{}') || @set::jsonb) - @unset, '{}'::jsonb)
            where path = @path or (path > @path || '/' and path < @path || '0');
            """, new { dirId, path, set, unset }, tx, cancellationToken: ct));

    /// <summary>Recomputes eff_metadata of a subtree from scratch (after a move gives it new ancestors).</summary>
    public static Task RecomputeEffectiveAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string path, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("""
            with recursive t (id, eff) as (
                select d.id, coalesce(p.eff_metadata, '{}') || coalesce(d.metadata, '{}')
                from directory d left join directory p on p.id = d.parent_id
                where d.path = @path
                union all
                select c.id, t.eff || coalesce(c.metadata, '{}') from directory c join t on c.parent_id = t.id
            )
            update directory d set eff_metadata = nullif(t.eff, '{}'::jsonb) from t where d.id = t.id
            """, new { path }, tx, cancellationToken: ct));

    /// <summary>Sets and removes values on many files in one statement; <paramref name="unsets"/> are JSON arrays of names.</summary>
    public static Task SetFilesValuesAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long[] ids, string[] sets, string[] unsets, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("""
            update file f set metadata = nullif((coalesce(f.metadata, '{}') || v.set::jsonb)
                    - coalesce((select array_agg(x) from jsonb_array_elements_text(v.unset::jsonb) x), '{}'::text[]), '{}'::jsonb),
                modified = now()
            from unnest(@ids::bigint[], @sets::text[], @unsets::text[]) as v(id, set, unset)
            where f.id = v.id
            """, new { ids, sets, unsets }, tx, cancellationToken: ct));

    /// <summary>Own values of files by id.</summary>
    public static async Task<Dictionary<long, string?>> FileValuesAsync(NpgsqlConnection conn, long[] ids, CancellationToken ct) =>
        (await conn.QueryAsync<(long Id, string? Metadata)>(new CommandDefinition(
            "select id, metadata::text from file where id = any(@ids)", new { ids }, cancellationToken: ct))).ToDictionary(r => r.Id, r => r.Metadata);

    /// <summary>
    /// The first of <paramref name="keys"/> set on one of <paramref name="ancestors"/> or below
    /// <paramref name="path"/>, and where (the one-level rule).
    /// </summary>
    public static Task<(string Path, string Key)?> SetElsewhereAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string path, string[] ancestors,
        string[] keys, CancellationToken ct) =>
        conn.QueryFirstOrDefaultAsync<(string Path, string Key)?>(new CommandDefinition("""
            select d.path, k from directory d, unnest(@keys::text[]) k
            where d.metadata ? k and (d.path = any(@ancestors) or d.path > @path || '/' and d.path < @path || '0')
            limit 1
            """, new { keys, ancestors, path }, tx, cancellationToken: ct));

    /// <summary>A key set somewhere in the subtree at <paramref name="path"/> that <paramref name="inheritedJson"/> also holds.</summary>
    public static Task<string?> KeyClashAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string path, string inheritedJson, CancellationToken ct) =>
        conn.QueryFirstOrDefaultAsync<string?>(new CommandDefinition("""
            select k from directory d, jsonb_object_keys(coalesce(d.metadata, '{}')) k
            where (d.path = @path or (d.path > @path || '/' and d.path < @path || '0')) and @inherited::jsonb ? k limit 1
            """, new { path, inherited = inheritedJson }, tx, cancellationToken: ct));

    /// <summary>Own and inherited (from the directory's effective values) metadata of directories by path.</summary>
    public static async Task<IReadOnlyList<(string Path, long Id, short Kind, string? Own, string? Effective)>> DirectoryValuesAsync(
        NpgsqlConnection conn, NpgsqlTransaction? tx, string[] paths, CancellationToken ct) =>
        (await conn.QueryAsync<(string, long, short, string?, string?)>(new CommandDefinition(
            "select path, id, kind, metadata::text, eff_metadata::text from directory where path = any(@paths)",
            new { paths }, tx, cancellationToken: ct))).AsList();
}
