using System.Collections.Concurrent;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Catalog.Api.Security;

/// <summary>
/// A JWT handler that remembers tokens it has verified. Checking an ES256 signature costs more
/// than the rest of a small request together, and a grid job presents the same token on every
/// request, so a token that validated is trusted again without its signature being checked, until it
/// expires or for at most <see cref="MaxAge"/>, whichever comes first. Only the exact token string
/// hits; revocation is checked on every request after this (it is not part of the cached result).
/// The cache is bounded: past <see cref="Capacity"/> tokens it starts afresh.
/// </summary>
public sealed class VerifiedTokenCache : JsonWebTokenHandler
{
    public const int Capacity = 50_000;
    public static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(5);

    private readonly ConcurrentDictionary<string, (TokenValidationResult Result, DateTime Until)> verified = new(StringComparer.Ordinal);
    private readonly TimeProvider clock;

    public VerifiedTokenCache(TimeProvider? clock = null)
    {
        this.clock = clock ?? TimeProvider.System;
        MapInboundClaims = false;
    }

    public override async Task<TokenValidationResult> ValidateTokenAsync(string token, TokenValidationParameters validationParameters)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        if (verified.TryGetValue(token, out var hit) && now < hit.Until) return hit.Result;
        var result = await base.ValidateTokenAsync(token, validationParameters);
        if (result.IsValid && result.SecurityToken is JsonWebToken jwt)
        {
            _ = result.ClaimsIdentity; // built once, before it is shared between requests
            if (verified.Count >= Capacity) verified.Clear();
            var until = now + MaxAge;
            verified[token] = (result, jwt.ValidTo < until ? jwt.ValidTo : until);
        }
        return result;
    }
}
