using Catalog.Api.Errors;
using Catalog.Contracts;
using Catalog.Storage;
using Npgsql;
using Microsoft.Extensions.Options;

namespace Catalog.Api.Security;

/// <summary>What an operation does to a path, for the permission check.</summary>
public enum Operation { Read, Create, Modify, Delete }

/// <summary>
/// The one place that decides who may do what. REST and GraphQL both reach the services, and
/// the services ask here before they touch anything. A request is allowed when
/// (1) one of the caller's roles permits the operation,
/// (2) one of its scopes covers the path for that operation (admins need none), and
/// (3) for readers and producers, the mode bits of the directory (or file) involved permit it,
/// and (for reads) every directory above it lets the caller search it: what a caller may not see
/// answers like what does not exist.
/// Anonymous callers may only read under <see cref="AuthOptions.PublicReadRoots"/>.
/// </summary>
public sealed class Access(IOptions<AuthOptions> options)
{
    private IReadOnlyList<string> PublicRoots => options.Value.PublicReadRoots;

    /// <summary>Throws 401/403 unless <paramref name="caller"/> may do <paramref name="op"/> on <paramref name="path"/>.</summary>
    public void Demand(Caller caller, Operation op, string path, string field)
    {
        if (Check(caller, op, path) is { } error) throw new CatalogException(error.Code, error.Message, field);
    }

    /// <summary>The refusal for one item, or null when allowed (for per-item answers).</summary>
    public ItemError? Check(Caller caller, Operation op, string path)
    {
        if (!caller.IsAuthenticated)
            return op == Operation.Read && PublicRoots.Any(r => Scope.Under(path, r))
                ? null
                : new ItemError(ErrorCode.Unauthorized, $"authentication required to {Verb(op)} '{path}'");
        if (!RolePermits(caller, op))
            return new ItemError(ErrorCode.Forbidden,
                $"'{caller.Subject}' may not {Verb(op)}: roles [{string.Join(", ", caller.Roles.Select(Caller.ToWire))}] do not allow it");
        if (caller.Has(Role.Admin)) return null;
        if (op == Operation.Read && PublicRoots.Any(r => Scope.Under(path, r))) return null;
        var needed = op switch { Operation.Read => ScopeAction.Read, Operation.Create => ScopeAction.Create, _ => ScopeAction.Modify };
        var covered = caller.Scopes.Any(s => s.Covers(path) && (s.Action == needed || (needed == ScopeAction.Create && s.Action == ScopeAction.Modify)));
        return covered ? null : new ItemError(ErrorCode.Forbidden,
            $"'{caller.Subject}' has no storage.{needed.ToString().ToLowerInvariant()} scope covering '{path}'");
    }

    /// <summary>Role-only permissions: storage elements (data manager), tokens, audit and schemas (admin).</summary>
    public void DemandRole(Caller caller, Role minimum, string what)
    {
        if (!caller.IsAuthenticated) throw new CatalogException(ErrorCode.Unauthorized, $"authentication required to {what}");
        if (!caller.Roles.Any(r => r >= minimum))
            throw new CatalogException(ErrorCode.Forbidden, $"'{caller.Subject}' may not {what}: it needs the {Caller.ToWire(minimum)} role");
    }

    /// <summary>Reading shared registries (the SE list): any identity, or anyone when some root is public.</summary>
    public void DemandReader(Caller caller, string what)
    {
        if (!caller.IsAuthenticated && PublicRoots.Count == 0)
            throw new CatalogException(ErrorCode.Unauthorized, $"authentication required to {what}");
    }

    /// <summary>
    /// Unix mode bits: owner bits when the caller owns the entry, group bits when it is in the
    /// entry's group, other bits otherwise (anonymous callers always get the other bits).
    /// <paramref name="bit"/> is 4 (r), 2 (w) or 1 (x). <see cref="Viewer.Permits"/> is this rule in SQL.
    /// </summary>
    public static bool Grants(Caller caller, string owner, string group, int mode, int bit)
    {
        var bits = caller.IsAuthenticated && caller.Subject == owner ? mode >> 6 : caller.Groups.Contains(group) ? mode >> 3 : mode;
        return (bits & bit) != 0;
    }

    /// <summary>
    /// Reading needs r on the entry; creating and removing entries in a directory need w on it.
    /// A read refused by modes answers like a missing entry (404), so modes never reveal what exists.
    /// </summary>
    public ItemError? CheckMode(Caller caller, Operation op, string owner, string group, int mode, string path)
    {
        if (caller.BypassesModes || Grants(caller, owner, group, mode, op == Operation.Read ? 4 : 2)) return null;
        // The owner, group and mode are named only to a caller who may read the entry (as ls -l would show them).
        return op == Operation.Read
            ? new ItemError(ErrorCode.NotFound, $"'{path}' not found")
            : new ItemError(ErrorCode.Forbidden, Grants(caller, owner, group, mode, 4)
                ? $"'{caller.Subject}' may not {Verb(op)} in '{path}' (owner {owner}, group {group}, mode {Convert.ToString(mode, 8)})"
                : $"'{caller.Subject}' may not {Verb(op)} in '{path}'");
    }

    public void DemandMode(Caller caller, Operation op, string owner, string group, int mode, string path, string field)
    {
        if (CheckMode(caller, op, owner, group, mode, path) is { } error) throw new CatalogException(error.Code, error.Message, field);
    }

    /// <summary>
    /// The read rule's set-valued form: the viewer whose SQL keeps only what the caller may see
    /// below and above <paramref name="roots"/> (["/"]: anywhere); null for callers modes do not bind.
    /// </summary>
    public async Task<Viewer?> ViewerAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, Caller caller, IEnumerable<string> roots, CancellationToken ct) =>
        caller.BypassesModes ? null : await Viewer.ForAsync(conn, tx, ViewerSubject(caller), caller.Groups.ToArray(), roots.ToArray(), ct);

    /// <summary>The viewer of a single directory's entries, whose own gate the caller has passed: modes only.</summary>
    public static Viewer? ModesOnly(Caller caller) => caller.BypassesModes ? null : new Viewer(ViewerSubject(caller), caller.Groups.ToArray(), []);

    private static string ViewerSubject(Caller caller) => caller.IsAuthenticated ? caller.Subject : "";

    /// <summary>The gates at or above <paramref name="dirs"/>, read once, for the rule on single entries.</summary>
    public static async Task<Gates> GatesAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, Caller caller, IEnumerable<string> dirs, CancellationToken ct) =>
        caller.BypassesModes ? Gates.None : new Gates(await Viewer.GatesAsync(conn, tx, dirs.SelectMany(Paths.Ancestry).Distinct(StringComparer.Ordinal).ToArray(), ct));

    /// <summary>
    /// The read rule for one entry: the caller may read it (r on <paramref name="owner"/>,
    /// <paramref name="group"/>, <paramref name="mode"/>) and search every directory at or above
    /// <paramref name="searched"/> (a file's directory, or a directory itself).
    /// </summary>
    public static bool CanSee(Caller caller, Gates gates, string searched, string owner, string group, int mode) =>
        caller.BypassesModes || (Grants(caller, owner, group, mode, 4) && gates.Pass(caller, searched));

    /// <summary>The read rule for a directory: the caller may read it, and search it and every directory above it.</summary>
    public static async Task<bool> CanSeeAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, Caller caller, DirectoryRow dir, CancellationToken ct) =>
        caller.BypassesModes || CanSee(caller, await GatesAsync(conn, tx, caller, [dir.Path], ct), dir.Path, dir.Owner, dir.Grp, dir.Mode);

    /// <summary>The read rule for a file in directory <paramref name="dir"/> (false for no file).</summary>
    public static async Task<bool> CanSeeAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, Caller caller, string dir, FileRow? file, CancellationToken ct) =>
        file is not null && (caller.BypassesModes || CanSee(caller, await GatesAsync(conn, tx, caller, [dir], ct), dir, file.Owner, file.Grp, file.Mode));

    private static bool RolePermits(Caller caller, Operation op) => caller.Roles.Any(r => r switch
    {
        Role.Admin or Role.DataManager => true,
        Role.Producer => op is Operation.Read or Operation.Create,
        _ => op == Operation.Read,
    });

    private static string Verb(Operation op) => op switch
    {
        Operation.Read => "read", Operation.Create => "create", Operation.Modify => "modify", _ => "delete",
    };
}

/// <summary>The gates (directories not everyone may search) on some paths' chains, by path.</summary>
public sealed class Gates(IReadOnlyList<GateRow> rows)
{
    public static Gates None { get; } = new([]);

    private readonly Dictionary<string, GateRow> byPath = rows.ToDictionary(r => r.Path, StringComparer.Ordinal);

    /// <summary>Whether the caller may search every directory at or above <paramref name="dir"/>.</summary>
    public bool Pass(Caller caller, string dir)
    {
        if (byPath.Count == 0 || caller.BypassesModes) return true;
        foreach (var p in Paths.Ancestry(dir))
            if (byPath.TryGetValue(p, out var g) && !Access.Grants(caller, g.Owner, g.Grp, g.Mode, 1)) return false;
        return true;
    }
}
