using Catalog.Api.Errors;
using Catalog.Contracts;
using Microsoft.Extensions.Options;

namespace Catalog.Api.Security;

/// <summary>What an operation does to a path, for the permission check.</summary>
public enum Operation { Read, Create, Modify, Delete }

/// <summary>
/// The one place that decides who may do what. REST and GraphQL both reach the services, and
/// the services ask here before they touch anything. A request is allowed when
/// (1) one of the caller's roles permits the operation,
/// (2) one of its scopes covers the path for that operation (admins need none), and
/// (3) for readers and producers, the mode bits of the directory (or file) involved permit it.
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
    /// entry's group, other bits otherwise. Reading needs r; creating and removing entries in a
    /// directory need w on it.
    /// </summary>
    public ItemError? CheckMode(Caller caller, Operation op, string owner, string group, int mode, string path)
    {
        if (caller.BypassesModes || (!caller.IsAuthenticated && op == Operation.Read)) return null;
        var bits = caller.Subject == owner ? (mode >> 6) & 7 : caller.Groups.Contains(group) ? (mode >> 3) & 7 : mode & 7;
        var want = op == Operation.Read ? 4 : 2;
        return (bits & want) != 0 ? null : new ItemError(ErrorCode.Forbidden,
            $"'{caller.Subject}' may not {Verb(op)} in '{path}' (owner {owner}, group {group}, mode {Convert.ToString(mode, 8)})");
    }

    public void DemandMode(Caller caller, Operation op, string owner, string group, int mode, string path, string field)
    {
        if (CheckMode(caller, op, owner, group, mode, path) is { } error) throw new CatalogException(error.Code, error.Message, field);
    }

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
