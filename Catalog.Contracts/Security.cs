namespace Catalog.Contracts;

/// <summary>
/// Asks the catalog to issue a token (admin only). Roles: reader, producer, data-manager, admin.
/// Scopes in the WLCG token profile style: <c>storage.read:/belle</c>, <c>storage.create:/belle/MC/prod1</c>,
/// <c>storage.modify:/belle</c> (modify includes create and delete).
/// </summary>
/// <param name="Subject">The identity the token stands for, e.g. <c>alice</c> or <c>prod-mc15</c>.</param>
/// <param name="Roles">What the identity may do.</param>
/// <param name="Scopes">Where it may do it.</param>
/// <param name="Groups">Its groups, for the group bits of directory modes; the first is the primary group.</param>
/// <param name="LifetimeSeconds">How long the token is valid.</param>
public sealed record TokenRequest(string? Subject, IReadOnlyList<string>? Roles, IReadOnlyList<string>? Scopes,
    IReadOnlyList<string>? Groups = null, long? LifetimeSeconds = null);

/// <summary>A token the catalog issued; <see cref="Token"/> is only returned once, at issue.</summary>
public sealed record IssuedToken(Guid Id, string Subject, IReadOnlyList<string> Roles, IReadOnlyList<string> Scopes,
    IReadOnlyList<string> Groups, DateTimeOffset Issued, DateTimeOffset Expires, string IssuedBy,
    DateTimeOffset? Revoked = null, string? Token = null);

/// <summary>Who the server thinks the caller is.</summary>
public sealed record WhoAmI(string Subject, bool Authenticated, IReadOnlyList<string> Roles, IReadOnlyList<string> Scopes,
    IReadOnlyList<string> Groups, Guid? TokenId);

/// <summary>One audited write on one item.</summary>
public sealed record AuditRecord(long Id, DateTimeOffset At, string Subject, Guid? TokenId, string? Remote, string? RequestId,
    string Action, string? Path, string Outcome, System.Text.Json.Nodes.JsonObject? Detail);

/// <summary>A page of audit records, oldest first; pass <see cref="Next"/> as <c>after</c> for more.</summary>
public sealed record AuditPage(IReadOnlyList<AuditRecord> Records, long? Next);
