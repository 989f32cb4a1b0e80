using System.Runtime.CompilerServices;
using System.Security.Claims;
using System.Text.RegularExpressions;
using Catalog.Api.Audit;
using Catalog.Api.Errors;
using Catalog.Contracts;
using Catalog.Storage;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Catalog.Api.Security;

/// <summary>Issues, lists and revokes the catalog's own tokens (admin only), recording each issue.</summary>
public sealed partial class TokenService(SigningKeys keys, IOptions<AuthOptions> options, Access access, RevocationList revocations,
    Hosting.Db db, AuditLog audit)
{
    public const string RolesClaim = "roles";
    public const string GroupsClaim = "groups";
    public const string ScopeClaim = "scope";

    private static readonly JsonWebTokenHandler Handler = new();

    public async Task<IssuedToken> IssueAsync(TokenRequest request, Caller caller, CancellationToken ct)
    {
        access.DemandRole(caller, Role.Admin, "issue tokens");
        var spec = Validate(request);
        var token = await IssueUncheckedAsync(spec, caller.Subject, ct);
        await audit.RecordAsync(caller, "token.issue", null, "issued", new() { ["jti"] = token.Id.ToString(), ["subject"] = token.Subject });
        return token;
    }

    /// <summary>For the server's own <c>token issue</c> command and first start: no caller to check.</summary>
    public async Task<IssuedToken> IssueUncheckedAsync(TokenRequest spec, string issuedBy, CancellationToken ct)
    {
        var signing = keys.Signing ?? throw new CatalogException(ErrorCode.InvalidArgument,
            "this server has no private key to sign with (Catalog:Auth:KeyFile holds public keys only)");
        var id = Guid.NewGuid();
        var now = DateTimeOffset.UtcNow;
        var expires = now.AddSeconds(spec.LifetimeSeconds!.Value);
        var claims = new Dictionary<string, object>
        {
            [JwtRegisteredClaimNames.Sub] = spec.Subject!,
            [JwtRegisteredClaimNames.Jti] = id.ToString(),
            [ScopeClaim] = string.Join(' ', spec.Scopes!),
            [RolesClaim] = spec.Roles!.ToArray(),
            [GroupsClaim] = spec.Groups!.ToArray(),
            ["wlcg.ver"] = "1.0",
        };
        // Issued in low-S form: validation accepts no other (VerifiedTokenCache.HasHighS).
        var jwt = VerifiedTokenCache.Canonical(Handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = options.Value.Issuer,
            Audience = options.Value.Audience,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = expires.UtcDateTime,
            Claims = claims,
            SigningCredentials = signing,
        }));
        await using var conn = await db.OpenAsync(ct);
        await TokenStore.InsertAsync(conn, id, spec.Subject!, spec.Roles!.ToArray(), spec.Scopes!.ToArray(), spec.Groups!.ToArray(),
            now, expires, issuedBy, ct);
        return new IssuedToken(id, spec.Subject!, spec.Roles!, spec.Scopes!, spec.Groups!, now, expires, issuedBy, Token: jwt);
    }

    public async Task<IReadOnlyList<IssuedToken>> ListAsync(string? subject, Caller caller, CancellationToken ct)
    {
        access.DemandRole(caller, Role.Admin, "list tokens");
        await using var conn = await db.OpenAsync(ct);
        return (await TokenStore.ListAsync(conn, subject, ct)).Select(ToContract).ToList();
    }

    public async Task<IssuedToken> RevokeAsync(Guid id, Caller caller, CancellationToken ct)
    {
        access.DemandRole(caller, Role.Admin, "revoke tokens");
        await using var conn = await db.OpenAsync(ct);
        var row = await TokenStore.RevokeAsync(conn, id, ct) ?? throw CatalogException.NotFound($"token {id}", "id");
        revocations.Add(id, row.Expires);
        await audit.RecordAsync(caller, "token.revoke", null, "revoked", new() { ["jti"] = id.ToString(), ["subject"] = row.Subject });
        return ToContract(row);
    }

    /// <summary>Checks a request and fills in defaults (lifetime 30 days, primary group = subject).</summary>
    public TokenRequest Validate(TokenRequest request)
    {
        if (request.Subject is not { } subject || !SubjectPattern().IsMatch(subject))
            throw CatalogException.Invalid("subject", "must be 1 to 128 characters of letters, digits and . _ @ -");
        var roles = request.Roles ?? [];
        if (roles.Count == 0) throw CatalogException.Invalid("roles", "must name at least one of reader, producer, data-manager, admin");
        for (var i = 0; i < roles.Count; i++)
            if (Caller.ParseRole(roles[i]) is null)
                throw CatalogException.Invalid($"roles[{i}]", $"'{roles[i]}' is not one of reader, producer, data-manager, admin");
        var scopes = request.Scopes ?? [];
        for (var i = 0; i < scopes.Count; i++)
            if (!Scope.TryParse(scopes[i], out _))
                throw CatalogException.Invalid($"scopes[{i}]", $"'{scopes[i]}' is not storage.read|create|modify:/clean/absolute/path of letters, digits and / . _ - + = , @ ~");
        var groups = request.Groups is { Count: > 0 } g ? g : [subject];
        for (var i = 0; i < groups.Count; i++)
            if (!SubjectPattern().IsMatch(groups[i])) throw CatalogException.Invalid($"groups[{i}]", "must be 1 to 128 characters of letters, digits and . _ @ -");
        var lifetime = request.LifetimeSeconds ?? (long)TimeSpan.FromDays(30).TotalSeconds;
        var max = (long)options.Value.MaxTokenLifetime.TotalSeconds;
        if (lifetime < 60 || lifetime > max)
            throw CatalogException.Invalid("lifetimeSeconds", $"must be between 60 and {max} (Catalog:Auth:MaxTokenLifetime)");
        return new TokenRequest(subject, roles.Distinct().ToList(), scopes.Distinct().ToList(), groups.ToList(), lifetime);
    }

    // A verified token's identity is shared by all of its requests (VerifiedTokenCache), so the
    // caller it stands for is worked out once per identity: parsing its roles and scopes on every
    // request was 5% of the server's CPU in a profile of cached single lookups.
    private static readonly ConditionalWeakTable<ClaimsIdentity, Caller> Callers = new();

    /// <summary>The identity a validated token stands for.</summary>
    public static Caller CallerFrom(ClaimsPrincipal user, string? remote, string? requestId) =>
        user.Identities.Count() == 1 && user.Identity is ClaimsIdentity { IsAuthenticated: true } identity
            ? Callers.GetValue(identity, i => Identify(new ClaimsPrincipal(i), null, null)) with { Remote = remote, RequestId = requestId }
            : Identify(user, remote, requestId);

    private static Caller Identify(ClaimsPrincipal user, string? remote, string? requestId)
    {
        var subject = user.FindFirst(JwtRegisteredClaimNames.Sub)?.Value;
        if (subject is null) return Caller.Anonymous(remote, requestId);
        var roles = user.FindAll(RolesClaim).Select(c => Caller.ParseRole(c.Value)).OfType<Role>().ToHashSet();
        // A scope that does not parse (unknown action, "..", a relative path) grants nothing.
        var scopes = user.FindAll(ScopeClaim).SelectMany(c => c.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(s => Scope.TryParse(s, out var scope) ? scope : null).OfType<Scope>().ToList();
        var groups = user.FindAll(GroupsClaim).Select(c => c.Value.TrimStart('/')).Where(g => g.Length > 0).ToList();
        var jti = Guid.TryParse(user.FindFirst(JwtRegisteredClaimNames.Jti)?.Value, out var id) ? id : (Guid?)null;
        return new Caller(subject, groups, roles, scopes, jti, remote, requestId);
    }

    private static IssuedToken ToContract(TokenRow r) => new(r.Jti, r.Subject, r.Roles, r.Scopes, r.Groups,
        Http.Mapping.Utc(r.Issued), Http.Mapping.Utc(r.Expires), r.IssuedBy,
        r.Revoked is { } revoked ? Http.Mapping.Utc(revoked) : null);

    [GeneratedRegex(@"^[A-Za-z0-9._@-]{1,128}$")]
    private static partial Regex SubjectPattern();
}
