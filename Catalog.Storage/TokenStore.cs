using Dapper;
using Npgsql;

namespace Catalog.Storage;

/// <summary>An issued token as stored (a class: Dapper fills array columns through properties).</summary>
public sealed class TokenRow
{
    public Guid Jti { get; init; }
    public string Subject { get; init; } = "";
    public string[] Roles { get; init; } = [];
    public string[] Scopes { get; init; } = [];
    public string[] Groups { get; init; } = [];
    public DateTime Issued { get; init; }
    public DateTime Expires { get; init; }
    public string IssuedBy { get; init; } = "";
    public DateTime? Revoked { get; init; }
}

/// <summary>Tokens the catalog issued, for listing and revocation by id.</summary>
public static class TokenStore
{
    private const string Columns = "jti, subject, roles, scopes, groups, issued, expires, issued_by as IssuedBy, revoked";

    public static Task InsertAsync(NpgsqlConnection conn, Guid jti, string subject, string[] roles, string[] scopes, string[] groups,
        DateTimeOffset issued, DateTimeOffset expires, string issuedBy, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("""
            insert into issued_token (jti, subject, roles, scopes, groups, issued, expires, issued_by)
            values (@jti, @subject, @roles, @scopes, @groups, @issued, @expires, @issuedBy)
            """, new { jti, subject, roles, scopes, groups, issued, expires, issuedBy }, cancellationToken: ct));

    public static async Task<IReadOnlyList<TokenRow>> ListAsync(NpgsqlConnection conn, string? subject, CancellationToken ct) =>
        (await conn.QueryAsync<TokenRow>(new CommandDefinition(
            $"select {Columns} from issued_token where @subject::text is null or subject = @subject order by issued",
            new { subject }, cancellationToken: ct))).AsList();

    public static Task<TokenRow?> RevokeAsync(NpgsqlConnection conn, Guid jti, CancellationToken ct) =>
        conn.QuerySingleOrDefaultAsync<TokenRow?>(new CommandDefinition(
            $"update issued_token set revoked = coalesce(revoked, now()) where jti = @jti returning {Columns}",
            new { jti }, cancellationToken: ct));

    /// <summary>
    /// Revoked tokens still accepted by validation: not expired, or expired less than
    /// <paramref name="clockSkew"/> ago (validation accepts that much past <c>exp</c>). The list
    /// every server process keeps in memory.
    /// </summary>
    public static async Task<IReadOnlyList<(Guid Jti, DateTime Expires)>> RevokedAsync(NpgsqlConnection conn, TimeSpan clockSkew, CancellationToken ct) =>
        (await conn.QueryAsync<(Guid, DateTime)>(new CommandDefinition(
            "select jti, expires from issued_token where revoked is not null and expires > now() - @clockSkew", new { clockSkew }, cancellationToken: ct))).AsList();
}
