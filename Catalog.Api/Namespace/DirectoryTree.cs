using Catalog.Api.Errors;
using Catalog.Api.Security;
using Catalog.Storage;
using Npgsql;

namespace Catalog.Api.Namespace;

/// <summary>Creates missing directories, parents first, for mkdir -p and for registration.</summary>
public static class DirectoryTree
{
    /// <summary>
    /// Creating under a directory needs w on it and x on it and every directory above: for each of
    /// <paramref name="dirs"/>, checks the nearest directory that exists (the directory itself, or the ancestor where creation would
    /// start), in one query. Admins and data managers are not bound by modes and skip the query.
    /// </summary>
    public static async Task DemandWritableAsync(NpgsqlConnection conn, NpgsqlTransaction tx, IReadOnlyCollection<LfnPath> dirs,
        Caller caller, Access access, string field, CancellationToken ct)
    {
        if (caller.BypassesModes || dirs.Count == 0) return;
        DemandWritable(await LoadChainsAsync(conn, tx, dirs, ct), dirs, caller, access, field);
    }

    /// <summary>The existing directories on the chains from <paramref name="dirs"/> up to their roots, by path (one query).</summary>
    public static async Task<Dictionary<string, DirectoryRow>> LoadChainsAsync(NpgsqlConnection conn, NpgsqlTransaction tx,
        IEnumerable<LfnPath> dirs, CancellationToken ct)
    {
        var paths = dirs.Select(d => d.Path).Distinct().SelectMany(Lfn.Ancestry).Distinct().ToArray();
        return paths.Length == 0 ? [] : (await DirectoryStore.GetManyAsync(conn, tx, paths, ct)).ToDictionary(r => r.Path, StringComparer.Ordinal);
    }

    /// <summary>The check of <see cref="DemandWritableAsync"/> against chains already loaded.</summary>
    public static void DemandWritable(Dictionary<string, DirectoryRow> rows, IEnumerable<LfnPath> dirs, Caller caller, Access access, string field)
    {
        if (caller.BypassesModes) return;
        foreach (var dir in dirs.Distinct())
        {
            // The chain runs from the directory up to the root; the first that exists decides, and
            // the caller must be able to search it and every directory above it: what it may not
            // see it cannot write in either, and is told it does not exist.
            var chain = Lfn.Ancestry(dir.Path).Select(p => rows.GetValueOrDefault(p)).OfType<DirectoryRow>().ToList();
            if (chain.Count == 0) continue;
            var nearest = chain[0];
            if (chain.Any(r => !Access.Grants(caller, r.Owner, r.Grp, r.Mode, 1)))
                throw CatalogException.NotFound($"directory '{nearest.Path}'", field);
            access.DemandMode(caller, Operation.Create, nearest.Owner, nearest.Grp, nearest.Mode, nearest.Path, field);
        }
    }

    /// <summary>
    /// Makes sure every directory in <paramref name="dirs"/> and its ancestors up to the root
    /// exists; answers path -> id. New directories belong to <paramref name="owner"/> and take
    /// their parent's group, and its mode unless <paramref name="mode"/> is given. A path whose
    /// name (or an ancestor's) is taken by a file is absent from the answer, and so are the paths below it.
    /// </summary>
    public static async Task<Dictionary<string, long>> EnsureAsync(NpgsqlConnection conn, NpgsqlTransaction tx,
        IEnumerable<LfnPath> dirs, string owner, int? mode, CancellationToken ct)
    {
        var wanted = new HashSet<string>(StringComparer.Ordinal);
        var roots = new HashSet<string>(StringComparer.Ordinal);
        foreach (var dir in dirs)
        {
            roots.Add(dir.Root);
            for (var p = dir.Path; wanted.Add(p) && p != dir.Root; p = p[..p.LastIndexOf('/')]) { }
        }

        var ids = await DirectoryStore.GetIdsAsync(conn, tx, wanted.ToArray(), ct);
        if (roots.FirstOrDefault(r => !ids.ContainsKey(r)) is { } missingRoot)
            throw new InvalidOperationException($"Root '{missingRoot}' does not exist: run the migrate command with this root configured.");

        var missing = wanted.Where(p => !ids.ContainsKey(p))
            .GroupBy(p => p.Count(c => c == '/'))
            .OrderBy(g => g.Key);
        foreach (var level in missing)
        {
            var creatable = level
                .Select(p => (Path: p, Parent: p[..p.LastIndexOf('/')]))
                .Where(x => ids.ContainsKey(x.Parent))
                .OrderBy(x => x.Path, StringComparer.Ordinal)
                .ToList();
            if (creatable.Count == 0) continue;
            var parentIds = creatable.Select(x => ids[x.Parent]).ToArray();
            await DirectoryStore.LockAsync(conn, tx, parentIds.Distinct().ToArray(), exclusive: true, ct);
            var made = await DirectoryStore.InsertChildrenAsync(conn, tx, parentIds,
                creatable.Select(x => x.Path[(x.Path.LastIndexOf('/') + 1)..]).ToArray(),
                creatable.Select(x => x.Path).ToArray(), owner, mode, ct);
            foreach (var (path, id) in made) ids[path] = id;
        }
        return ids;
    }
}
