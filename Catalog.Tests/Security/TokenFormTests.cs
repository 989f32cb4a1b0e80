using System.Net;
using System.Numerics;
using Catalog.Api.Security;
using Catalog.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Catalog.Tests.Security;

/// <summary>One token, one string: no signature twins, and every accepted token can be revoked.</summary>
[Collection(CatalogCollection.Name)]
public class TokenFormTests(CatalogFixture fx)
{
    private static readonly BigInteger P256Order = new(Convert.FromHexString("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"), isUnsigned: true, isBigEndian: true);

    private async Task<HttpStatusCode> WhoAmIAsync(string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/v1/whoami") { Headers = { Authorization = new("Bearer", token) } };
        using var response = await fx.Factory.CreateClient().SendAsync(request);
        return response.StatusCode;
    }

    [Fact]
    public async Task Tokens_are_issued_in_low_S_form_and_their_high_S_twin_is_refused()
    {
        for (var i = 0; i < 8; i++) // a signature is high-S half of the time: every issued one must be low-S
        {
            var token = await fx.IssueTokenAsync($"twin-{i}", ["reader"], ["storage.read:/belle"]);
            Assert.False(VerifiedTokenCache.HasHighS(token));
            var dot = token.LastIndexOf('.');
            var signature = Base64UrlEncoder.DecodeBytes(token[(dot + 1)..]);
            var twinS = (P256Order - new BigInteger(signature.AsSpan(32), isUnsigned: true, isBigEndian: true)).ToByteArray(isUnsigned: true, isBigEndian: true);
            var twin = token[..(dot + 1)] + Base64UrlEncoder.Encode([.. signature[..32], .. new byte[32 - twinS.Length], .. twinS]);
            Assert.True(VerifiedTokenCache.HasHighS(twin));
            Assert.Equal(token, VerifiedTokenCache.Canonical(twin));
            Assert.Equal(HttpStatusCode.OK, await WhoAmIAsync(token));
            Assert.Equal(HttpStatusCode.Unauthorized, await WhoAmIAsync(twin));
        }
    }

    [Fact]
    public async Task A_validly_signed_token_without_a_GUID_jti_is_refused()
    {
        var key = fx.Factory.Services.GetRequiredService<SigningKeys>().Signing!;
        var now = DateTime.UtcNow;
        string Token(object? jti) => VerifiedTokenCache.Canonical(new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = "catalog", Audience = "catalog", SigningCredentials = key, IssuedAt = now, NotBefore = now, Expires = now.AddHours(1),
            Claims = jti is null
                ? new Dictionary<string, object> { ["sub"] = "no-jti", ["roles"] = new[] { "reader" }, ["scope"] = "storage.read:/belle" }
                : new Dictionary<string, object> { ["sub"] = "no-jti", ["jti"] = jti, ["roles"] = new[] { "reader" }, ["scope"] = "storage.read:/belle" },
        }));
        Assert.Equal(HttpStatusCode.Unauthorized, await WhoAmIAsync(Token(null)));
        Assert.Equal(HttpStatusCode.Unauthorized, await WhoAmIAsync(Token("token-42")));
        Assert.Equal(HttpStatusCode.OK, await WhoAmIAsync(Token(Guid.NewGuid().ToString())));
    }
}
