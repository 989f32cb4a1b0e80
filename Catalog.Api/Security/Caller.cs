using Catalog.Api.Errors;
using Catalog.Contracts;

namespace Catalog.Api.Security;

/// <summary>What an identity may do, from least to most.</summary>
public enum Role { Reader, Producer, DataManager, Admin }

/// <summary>The WLCG storage actions a scope grants.</summary>
public enum ScopeAction { Read, Create, Modify }

/// <summary>A WLCG-style scope: an action on a path prefix, e.g. <c>storage.create:/belle/MC/prod1</c>.</summary>
public sealed record Scope(ScopeAction Action, string Path)
{
    public override string ToString() => $"storage.{Action.ToString().ToLowerInvariant()}:{Path}";

    /// <summary>
    /// Parses one scope. The path must be absolute and clean (no ".", "..", empty components or
    /// trailing slash) and made of safe characters only (letters, digits and <c>/ . _ - + = , @ ~</c>):
    /// no whitespace, so one scope string can never read as two (tokens carry scopes
    /// space-separated), and nothing a path could smuggle a second scope in with.
    /// </summary>
    public static bool TryParse(string text, out Scope scope)
    {
        scope = null!;
        var colon = text.IndexOf(':');
        var (name, path) = colon < 0 ? (text, "/") : (text[..colon], text[(colon + 1)..]);
        ScopeAction? action = name switch
        {
            "storage.read" => ScopeAction.Read,
            "storage.create" => ScopeAction.Create,
            "storage.modify" => ScopeAction.Modify,
            _ => null,
        };
        if (action is null || !IsCleanPath(path) || !path.All(IsSafe)) return false;
        scope = new Scope(action.Value, path);
        return true;
    }

    private static bool IsSafe(char c) => char.IsAsciiLetterOrDigit(c) || c is '/' or '.' or '_' or '-' or '+' or '=' or ',' or '@' or '~';

    public static bool IsCleanPath(string path) =>
        path == "/" || (path.StartsWith('/') && !path.EndsWith('/') && path.Split('/').Skip(1).All(c => c is { Length: > 0 } and not "." and not ".."));

    /// <summary>Whether <paramref name="path"/> is this scope's path or below it (component-wise: /a/b covers /a/b/c, not /a/bc).</summary>
    public bool Covers(string path) => Under(path, Path);

    public static bool Under(string path, string prefix) =>
        prefix == "/" || path == prefix || (path.Length > prefix.Length && path.StartsWith(prefix, StringComparison.Ordinal) && path[prefix.Length] == '/');
}

/// <summary>
/// Who is calling, from a validated token or client certificate (or nobody): subject, groups,
/// roles and scopes, plus where the request came from for the audit trail.
/// </summary>
public sealed record Caller(string Subject, IReadOnlyList<string> Groups, IReadOnlySet<Role> Roles, IReadOnlyList<Scope> Scopes,
    Guid? TokenId = null, string? Remote = null, string? RequestId = null)
{
    public const string AnonymousSubject = "anonymous";

    public static Caller Anonymous(string? remote = null, string? requestId = null) =>
        new(AnonymousSubject, [], new HashSet<Role>(), [], null, remote, requestId);

    /// <summary>The server acting on its own (the token command, migrations).</summary>
    public static Caller System { get; } = new("catalog", ["catalog"], new HashSet<Role> { Role.Admin }, [new Scope(ScopeAction.Modify, "/"), new Scope(ScopeAction.Read, "/")]);

    public bool IsAuthenticated => Subject != AnonymousSubject;

    /// <summary>Owner of what this caller creates.</summary>
    public string User => Subject;

    /// <summary>The primary group (the first); new entries take their parent directory's group instead.</summary>
    public string Group => Groups.Count > 0 ? Groups[0] : Subject;

    public bool Has(Role role) => Roles.Contains(role);

    /// <summary>Admins and data managers manage data across owners, so mode bits do not bind them.</summary>
    public bool BypassesModes => Has(Role.Admin) || Has(Role.DataManager);

    public static string ToWire(Role role) => role switch
    {
        Role.Reader => "reader", Role.Producer => "producer", Role.DataManager => "data-manager", _ => "admin",
    };

    public static Role? ParseRole(string text) => text switch
    {
        "reader" => Role.Reader, "producer" => Role.Producer, "data-manager" => Role.DataManager, "admin" => Role.Admin, _ => null,
    };

    public WhoAmI ToWhoAmI() => new(Subject, IsAuthenticated, Roles.Order().Select(ToWire).ToList(),
        Scopes.Select(s => s.ToString()).ToList(), Groups, TokenId);
}
