using System.Security.Cryptography;
using Catalog.Api.Security;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Catalog.Tests.Security;

/// <summary>
/// The remembered signature checks: a verified token is trusted again only as the same string,
/// only until it expires or for at most five minutes, and a token that failed is never remembered.
/// </summary>
public class VerifiedTokenCacheTests
{
    private sealed class Clock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = DateTimeOffset.UtcNow;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static readonly ECDsaSecurityKey Key = new(ECDsa.Create(ECCurve.NamedCurves.nistP256)) { KeyId = "k1" };

    private static readonly TokenValidationParameters Parameters = new()
    {
        ValidIssuer = "catalog", ValidAudience = "catalog", IssuerSigningKey = Key,
        RequireSignedTokens = true, RequireExpirationTime = true, ValidateLifetime = true,
    };

    private static string Token(SecurityKey key, TimeSpan lifetime, string subject = "job") => VerifiedTokenCache.Canonical(new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
    {
        Issuer = "catalog", Audience = "catalog", Expires = DateTime.UtcNow + lifetime,
        Claims = new Dictionary<string, object> { ["sub"] = subject },
        SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.EcdsaSha256),
    }));

    [Fact]
    public async Task A_verified_token_is_remembered_for_at_most_five_minutes()
    {
        var clock = new Clock();
        var cache = new VerifiedTokenCache(clock);
        var token = Token(Key, TimeSpan.FromHours(1));

        var first = await cache.ValidateTokenAsync(token, Parameters);
        Assert.True(first.IsValid);
        Assert.Same(first, await cache.ValidateTokenAsync(token, Parameters));     // remembered

        clock.Now += VerifiedTokenCache.MaxAge + TimeSpan.FromSeconds(1);
        var again = await cache.ValidateTokenAsync(token, Parameters);
        Assert.True(again.IsValid);
        Assert.NotSame(first, again);                                              // checked again
    }

    [Fact]
    public async Task A_remembered_token_is_checked_again_once_it_has_expired()
    {
        var clock = new Clock();
        var cache = new VerifiedTokenCache(clock);
        var token = Token(Key, TimeSpan.FromMinutes(2));
        var first = await cache.ValidateTokenAsync(token, Parameters);
        Assert.True(first.IsValid);

        clock.Now += TimeSpan.FromMinutes(2) + TimeSpan.FromSeconds(1);           // past exp, within MaxAge
        Assert.NotSame(first, await cache.ValidateTokenAsync(token, Parameters));
    }

    [Fact]
    public async Task A_token_that_fails_is_never_remembered()
    {
        var cache = new VerifiedTokenCache(new Clock());
        var rogue = Token(new ECDsaSecurityKey(ECDsa.Create(ECCurve.NamedCurves.nistP256)) { KeyId = "k1" }, TimeSpan.FromHours(1));
        Assert.False((await cache.ValidateTokenAsync(rogue, Parameters)).IsValid);
        Assert.False((await cache.ValidateTokenAsync(rogue, Parameters)).IsValid);

        // Another string (one character of the signature changed) is not the remembered token.
        var good = Token(Key, TimeSpan.FromHours(1));
        Assert.True((await cache.ValidateTokenAsync(good, Parameters)).IsValid);
        var tampered = good[..^2] + (good[^2] == 'A' ? 'B' : 'A') + good[^1];
        Assert.False((await cache.ValidateTokenAsync(tampered, Parameters)).IsValid);
    }
}
