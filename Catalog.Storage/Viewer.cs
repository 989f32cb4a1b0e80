using Dapper;
using Npgsql;
using NpgsqlTypes;

namespace Catalog.Storage;

/// <summary>A directory that does not let everyone search it (mode lacks x for owner, group or other).</summary>
public sealed record GateRow(long Id, string Path, string Owner, string Grp, int Mode);

/// <summary>
/// The read rule in SQL, for set-valued answers (queries, facets, listings, summaries, usage,
/// lineage): an entry is visible only if the caller may read it and search every directory above
/// it. The same rule for single entries is <c>Access.CanSee</c> in the API; a test holds the
/// two to the same answers. Callers whom modes do not bind (admins, data managers) have no viewer:
/// their SQL carries no condition.
/// <para>
/// <see cref="Closed"/> is every gate in the answer's range that this caller cannot pass (it or a
/// gate above it refuses x); each directory names its nearest gate (schema/008), so a row is kept
/// when its directory's gate is not among them and its own mode bits grant r.
/// </para>
/// </summary>
/// <param name="Subject">The caller; "" for anonymous callers, which get the "other" bits.</param>
public sealed record Viewer(string Subject, string[] Groups, long[] Closed)
{
    /// <summary>Whether a directory of this mode is a gate: it does not grant x to owner, group and other alike (schema/008).</summary>
    public static bool IsGate(int mode) => (mode & 73) != 73;

    /// <summary><see cref="IsGate"/> in SQL, word for word the predicate of the partial index <c>directory_gate</c>.</summary>
    private const string GateSql = "(mode & 73) <> 73";

    /// <summary>SQL: the caller's bits of <paramref name="alias"/>'s mode grant <paramref name="bit"/> (4 r, 2 w, 1 x).</summary>
    public static string Permits(string alias, int bit)
    {
        var all = bit * 73; // the bit for owner, group and other: nobody is refused, no name to compare
        return $"(({alias}.mode & {all}) = {all} or case when {alias}.owner = @vSubject then {alias}.mode & {bit << 6} <> 0 " +
               $"when {alias}.grp = any(@vGroups) then {alias}.mode & {bit << 3} <> 0 else {alias}.mode & {bit} <> 0 end)";
    }

    /// <summary>SQL: the directory <paramref name="dir"/> is below no gate closed to the caller.</summary>
    public static string Searchable(string dir) => $"({dir}.gate_id is null or {dir}.gate_id <> all(@vClosed))";

    /// <summary>SQL: the file <paramref name="file"/> in directory <paramref name="dir"/> is visible (true without a viewer).</summary>
    public static string FileVisible(Viewer? viewer, string file, string dir) =>
        viewer is null ? "true" : $"({Searchable(dir)} and {Permits(file, 4)})";

    /// <summary>SQL: the directory <paramref name="dir"/> is visible: searchable down to itself, and readable.</summary>
    public static string DirectoryVisible(Viewer? viewer, string dir) =>
        viewer is null ? "true" : $"({Searchable(dir)} and {Permits(dir, 4)})";

    /// <summary>The parameters the fragments above name, for Dapper.</summary>
    public static DynamicParameters With(Viewer? viewer, object values)
    {
        var p = new DynamicParameters(values);
        p.Add("vSubject", viewer?.Subject ?? "");
        p.Add("vGroups", viewer?.Groups ?? []);
        p.Add("vClosed", viewer?.Closed ?? []);
        return p;
    }

    /// <summary>The same parameters for a plain Npgsql command.</summary>
    public static void AddTo(Viewer? viewer, List<NpgsqlParameter> parameters)
    {
        parameters.Add(new NpgsqlParameter("vSubject", NpgsqlDbType.Text) { Value = viewer?.Subject ?? "" });
        parameters.Add(new NpgsqlParameter("vGroups", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = viewer?.Groups ?? [] });
        parameters.Add(new NpgsqlParameter("vClosed", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = viewer?.Closed ?? [] });
    }

    /// <summary>
    /// The caller's viewer over the subtrees at <paramref name="roots"/> and the directories above
    /// them (pass ["/"] for answers that may reach anywhere): the gates there that it cannot pass.
    /// </summary>
    public static async Task<Viewer> ForAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string subject, string[] groups, string[] roots, CancellationToken ct)
    {
        var above = roots.SelectMany(Paths.Ancestry).Distinct(StringComparer.Ordinal).ToArray();
        var anywhere = roots.Contains("/");
        var sql = $"""
            with g as (
                select id, path, owner, grp, mode from directory
                where {GateSql} and ({(anywhere ? "true" : "path = any(@above) or exists (select 1 from unnest(@roots) r where path > r || '/' and path < r || '0')")})
            ), refused as (select g.path from g where not {Permits("g", 1)})
            select g.id from g where exists (select 1 from refused x where g.path = x.path or g.path > x.path || '/' and g.path < x.path || '0')
            """;
        var closed = await conn.QueryAsync<long>(new CommandDefinition(sql,
            With(new Viewer(subject, groups, []), new { above, roots }), tx, cancellationToken: ct));
        return new Viewer(subject, groups, closed.ToArray());
    }

    /// <summary>
    /// Whether a file the viewer may not read lies in a directory it may search at or below
    /// <paramref name="roots"/>: there per-directory counters would count what it may not see.
    /// Found through the small index of files not everyone may read.
    /// </summary>
    public static async Task<bool> HidesFilesAsync(NpgsqlConnection conn, Viewer? viewer, string[] roots, CancellationToken ct)
    {
        if (viewer is null) return false;
        var sql = $"""
            select exists (select 1 from file f join directory d on d.id = f.dir_id
                           where (f.mode & 292) <> 292 and {Searchable("d")} and not {Permits("f", 4)}
                             and exists (select 1 from unnest(@roots) r where d.path = r or (d.path > r || '/' and d.path < r || '0')))
            """;
        return await conn.ExecuteScalarAsync<bool>(new CommandDefinition(sql, With(viewer, new { roots }), cancellationToken: ct));
    }

    /// <summary>The gates among <paramref name="paths"/> (directory paths), for the rule on single entries.</summary>
    public static async Task<IReadOnlyList<GateRow>> GatesAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string[] paths, CancellationToken ct) =>
        (await conn.QueryAsync<GateRow>(new CommandDefinition(GatesSql, new { paths }, tx, cancellationToken: ct))).AsList();

    /// <summary>The statement of <see cref="GatesAsync"/> (parameter <c>@paths</c>), for stores that read gates beside other rows.</summary>
    public const string GatesSql = "select id, path, owner, grp, mode from directory where path = any(@paths) and " + GateSql;

}
