using System.ComponentModel.DataAnnotations;

namespace Catalog.Api.Security;

/// <summary>Authentication, authorization and abuse limits, bound from <c>Catalog:Auth</c>.</summary>
public sealed class AuthOptions
{
    public const string Section = "Catalog:Auth";

    /// <summary>The <c>iss</c> of tokens this catalog issues and accepts.</summary>
    [Required] public string Issuer { get; set; } = "catalog";

    /// <summary>The <c>aud</c> every accepted token must name.</summary>
    [Required] public string Audience { get; set; } = "catalog";

    /// <summary>
    /// A JSON Web Key Set. Its public keys validate tokens; a private EC key in it (the first)
    /// signs the tokens this catalog issues. Relative paths are under the content root.
    /// </summary>
    [Required] public string KeyFile { get; set; } = "auth/jwks.json";

    /// <summary>Create <see cref="KeyFile"/> with a new ES256 key (owner-only permissions) when it is missing.</summary>
    public bool CreateKeyFile { get; set; } = true;

    /// <summary>Roots (or deeper paths) anyone may read without a token, e.g. <c>/belle</c>.</summary>
    public List<string> PublicReadRoots { get; set; } = [];

    /// <summary>The longest lifetime an issued token may have.</summary>
    public TimeSpan MaxTokenLifetime { get; set; } = TimeSpan.FromDays(400);

    /// <summary>How often each server process reloads the revocation list (the bound on revocation delay across processes).</summary>
    public TimeSpan RevocationRefresh { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Clock skew tolerated on exp/nbf.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>X.509 client certificates: a second door to the same identities.</summary>
    public X509Options X509 { get; set; } = new();

    /// <summary>Per-identity request rate limit (token bucket).</summary>
    public RateLimitOptions RateLimit { get; set; } = new();
}

public sealed class X509Options
{
    /// <summary>PEM file of the CAs whose certificates are accepted; without it, certificates are ignored.</summary>
    public string? TrustedCaFile { get; set; }

    /// <summary>
    /// CRL files (PEM or DER) of the trusted CAs, as fetch-crl keeps them: a certificate they list is
    /// refused. Each must be signed by a trusted CA; they are read again when they change.
    /// </summary>
    public List<string> CrlFiles { get; set; } = [];

    /// <summary>Certificate subjects and the identities they map to.</summary>
    public List<IdentityOptions> Identities { get; set; } = [];
}

public sealed class IdentityOptions
{
    /// <summary>The certificate subject, "CN=Alice, O=Belle" or grid style "/O=Belle/CN=Alice".</summary>
    public string? Dn { get; set; }
    public string? Subject { get; set; }
    public List<string> Roles { get; set; } = [];
    public List<string> Scopes { get; set; } = [];
    public List<string> Groups { get; set; } = [];
}

public sealed class RateLimitOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>Sustained requests per second per identity (anonymous callers: per address).</summary>
    [Range(1, 1_000_000)] public int PermitsPerSecond { get; set; } = 5_000;

    /// <summary>Requests an identity may send at once above the sustained rate.</summary>
    [Range(1, 10_000_000)] public int Burst { get; set; } = 20_000;

    /// <summary>
    /// Failed authentications per second per client address (sustained); beyond them and
    /// <see cref="FailedBurst"/>, requests from that address carrying credentials are answered 429
    /// before their signature is checked.
    /// </summary>
    [Range(1, 1_000_000)] public int FailedPerSecond { get; set; } = 20;

    [Range(1, 1_000_000)] public int FailedBurst { get; set; } = 100;
}
