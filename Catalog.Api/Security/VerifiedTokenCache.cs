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

    /// <summary>
    /// An ECDSA signature (r, s) has a twin (r, n - s) that verifies as well: a second string for
    /// the same token, which would pass any check keyed by the token's text. Only the low-S form
    /// (s at most n / 2) is accepted, as in Bitcoin's and Ethereum's rules.
    /// </summary>
    internal static bool HasHighS(string token) => Signature(token) is { } sig && sig.S > sig.Half;

    /// <summary>
    /// The token with its ECDSA signature in low-S form (s replaced by n - s when above n / 2; the
    /// same signature, the other of its two encodings). Other tokens come back unchanged.
    /// </summary>
    public static string Canonical(string token)
    {
        if (Signature(token) is not { } sig || sig.S <= sig.Half) return token;
        var size = sig.Bytes.Length / 2;
        var low = (sig.Half * 2 + 1 - sig.S).ToByteArray(isUnsigned: true, isBigEndian: true);
        var bytes = sig.Bytes.ToArray();
        Array.Clear(bytes, size, size);
        low.CopyTo(bytes, bytes.Length - low.Length);
        return token[..(token.LastIndexOf('.') + 1)] + Base64UrlEncoder.Encode(bytes);
    }

    /// <summary>The (r || s) signature of an ECDSA-signed JWT, its s and half its curve's order; null for anything else.</summary>
    private static (byte[] Bytes, System.Numerics.BigInteger S, System.Numerics.BigInteger Half)? Signature(string token)
    {
        var dot = token.LastIndexOf('.');
        var first = token.IndexOf('.');
        if (first <= 0 || dot <= first) return null;
        try
        {
            var alg = System.Text.Json.JsonDocument.Parse(Base64UrlEncoder.DecodeBytes(token[..first])).RootElement.GetProperty("alg").GetString();
            if (alg is null || !HalfOrders.TryGetValue(alg, out var half)) return null;
            var signature = Base64UrlEncoder.DecodeBytes(token[(dot + 1)..]);
            if (signature.Length % 2 != 0) return null;
            return (signature, new System.Numerics.BigInteger(signature.AsSpan(signature.Length / 2), isUnsigned: true, isBigEndian: true), half);
        }
        catch (Exception e) when (e is FormatException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>Half the group order of each curve (P-256, P-384, P-521).</summary>
    private static readonly Dictionary<string, System.Numerics.BigInteger> HalfOrders = new()
    {
        ["ES256"] = Order("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551") / 2,
        ["ES384"] = Order("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973") / 2,
        ["ES512"] = Order("01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409") / 2,
    };

    private static System.Numerics.BigInteger Order(string hex) => new(Convert.FromHexString(hex), isUnsigned: true, isBigEndian: true);

    public override async Task<TokenValidationResult> ValidateTokenAsync(string token, TokenValidationParameters validationParameters)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        if (verified.TryGetValue(token, out var hit) && now < hit.Until) return hit.Result;
        if (HasHighS(token))
            return new TokenValidationResult { IsValid = false, Exception = new SecurityTokenInvalidSignatureException("the ECDSA signature is not in canonical (low-S) form") };
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
