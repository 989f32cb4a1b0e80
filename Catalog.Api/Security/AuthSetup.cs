using System.Security.Claims;
using System.Security.Cryptography.X509Certificates;
using System.Threading.RateLimiting;
using Catalog.Api.Errors;
using Catalog.Contracts;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Certificate;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Catalog.Api.Security;

public static class AuthSetup
{
    private const string Scheme = "catalog";

    /// <summary>
    /// Bearer tokens (signed JWTs: issuer, audience, expiry, signature and revocation checked)
    /// and, when a CA file is configured, X.509 client certificates mapped to the same
    /// identities; per-identity rate limits.
    /// </summary>
    public static IHostApplicationBuilder AddCatalogAuth(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<AuthOptions>().Bind(builder.Configuration.GetSection(AuthOptions.Section))
            .ValidateDataAnnotations()
            .Validate(o => o.PublicReadRoots.All(Scope.IsCleanPath), "Catalog:Auth:PublicReadRoots must be clean absolute paths")
            .ValidateOnStart();
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<AuthOptions>>().Value;
            var path = Path.IsPathRooted(o.KeyFile) ? o.KeyFile : Path.Combine(sp.GetRequiredService<IHostEnvironment>().ContentRootPath, o.KeyFile);
            return SigningKeys.Load(path, o.CreateKeyFile);
        });
        services.AddSingleton<Access>();
        services.AddSingleton<RevocationList>();
        services.AddHostedService<RevocationList.Refresher>();
        services.AddSingleton<CertificateRevocations>();
        services.AddHostedService(sp => sp.GetRequiredService<CertificateRevocations>());
        services.AddSingleton<TokenService>();
        services.AddHttpContextAccessor();
        services.AddScoped(sp => sp.GetRequiredService<IHttpContextAccessor>().HttpContext is { } http
            ? CallerOf(http)
            : Caller.System);

        services.AddAuthentication(Scheme)
            .AddPolicyScheme(Scheme, "bearer token or client certificate", o => o.ForwardDefaultSelector = http =>
                http.Request.Headers.Authorization.Count == 0 && http.Connection.ClientCertificate is not null
                    ? CertificateAuthenticationDefaults.AuthenticationScheme
                    : JwtBearerDefaults.AuthenticationScheme)
            .AddJwtBearer(o =>
            {
                o.MapInboundClaims = false;
                o.TokenHandlers.Clear();
                o.TokenHandlers.Add(new VerifiedTokenCache());
                o.Events = new JwtBearerEvents
                {
                    OnTokenValidated = context =>
                    {
                        var revoked = context.HttpContext.RequestServices.GetRequiredService<RevocationList>();
                        // A token that could never be revoked is not accepted: its jti must be a GUID.
                        if (!Guid.TryParse(context.Principal?.FindFirst(JwtRegisteredClaimNames.Jti)?.Value, out var jti))
                            context.Fail("the token has no GUID jti claim, so it could not be revoked");
                        else if (revoked.IsRevoked(jti))
                            context.Fail("the token was revoked");
                        return Task.CompletedTask;
                    },
                    // Refusals are answered by the error mapping (ProblemDetails with a code), not here.
                    OnChallenge = context => { context.HandleResponse(); return Task.CompletedTask; },
                };
            })
            .AddCertificate(o =>
            {
                o.AllowedCertificateTypes = CertificateTypes.Chained;
                // Revocation comes from the CRL files the site keeps (CertificateRevocations): this
                // server reaches no CA's distribution point, so the chain itself checks none.
                o.RevocationMode = X509RevocationMode.NoCheck;
                o.ChainTrustValidationMode = X509ChainTrustMode.CustomRootTrust;
                o.Events = new CertificateAuthenticationEvents
                {
                    OnCertificateValidated = context =>
                    {
                        var x509 = context.HttpContext.RequestServices.GetRequiredService<IOptions<AuthOptions>>().Value.X509;
                        var dn = context.ClientCertificate.Subject;
                        if (context.HttpContext.RequestServices.GetRequiredService<CertificateRevocations>().IsRevoked(context.ClientCertificate))
                        {
                            context.Fail($"certificate '{dn}' (serial {context.ClientCertificate.SerialNumber}) is revoked by its CA's CRL");
                            return Task.CompletedTask;
                        }
                        var identity = x509.Identities.FirstOrDefault(i => i.Dn is not null && SameDn(i.Dn, dn));
                        if (identity?.Subject is null)
                        {
                            context.Fail($"certificate subject '{dn}' is not mapped to an identity ({x509.Identities.Count} mapped)");
                            return Task.CompletedTask;
                        }
                        var claims = new List<Claim> { new(JwtRegisteredClaimNames.Sub, identity.Subject) };
                        claims.AddRange(identity.Roles.Select(r => new Claim(TokenService.RolesClaim, r)));
                        claims.AddRange(identity.Groups.Select(g => new Claim(TokenService.GroupsClaim, g)));
                        claims.Add(new Claim(TokenService.ScopeClaim, string.Join(' ', identity.Scopes)));
                        context.Principal = new ClaimsPrincipal(new ClaimsIdentity(claims, context.Scheme.Name));
                        context.Success();
                        return Task.CompletedTask;
                    },
                };
            });
        // Token validation parameters and the certificate trust store depend on options: bind them late.
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme).Configure<IOptions<AuthOptions>, SigningKeys>((o, auth, keys) =>
        {
            o.TokenValidationParameters = new TokenValidationParameters
            {
                ValidIssuer = auth.Value.Issuer,
                ValidAudience = auth.Value.Audience,
                IssuerSigningKeys = keys.ValidationKeys,
                ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256, SecurityAlgorithms.EcdsaSha384, SecurityAlgorithms.RsaSha256, SecurityAlgorithms.RsaSsaPssSha256],
                RequireSignedTokens = true,
                RequireExpirationTime = true,
                ValidateLifetime = true,
                ClockSkew = auth.Value.ClockSkew,
                NameClaimType = JwtRegisteredClaimNames.Sub,
            };
        });
        services.AddOptions<CertificateAuthenticationOptions>(CertificateAuthenticationDefaults.AuthenticationScheme).Configure<IOptions<AuthOptions>>((o, auth) =>
        {
            if (auth.Value.X509.TrustedCaFile is { } file)
            {
                var store = new X509Certificate2Collection();
                store.ImportFromPemFile(file);
                o.CustomTrustStore = store;
            }
        });
        services.AddAuthorization();

        services.AddRateLimiter(o =>
        {
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(http =>
            {
                var limits = http.RequestServices.GetRequiredService<IOptions<AuthOptions>>().Value.RateLimit;
                if (!limits.Enabled || http.Request.Path.StartsWithSegments("/healthz") || http.Request.Path.StartsWithSegments("/readyz"))
                    return RateLimitPartition.GetNoLimiter("exempt");
                var key = http.User.FindFirst(JwtRegisteredClaimNames.Sub)?.Value is { } sub ? "sub:" + sub : "ip:" + http.Connection.RemoteIpAddress;
                return RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = limits.Burst,
                    TokensPerPeriod = Math.Max(1, limits.PermitsPerSecond / 10),
                    ReplenishmentPeriod = TimeSpan.FromMilliseconds(100),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
            });
            o.OnRejected = async (context, ct) =>
            {
                var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var delay) ? Math.Max(1, (int)Math.Ceiling(delay.TotalSeconds)) : 1;
                context.HttpContext.Response.Headers.RetryAfter = retryAfter.ToString();
                var limits = context.HttpContext.RequestServices.GetRequiredService<IOptions<AuthOptions>>().Value.RateLimit;
                await ErrorMapping.Problem(new ItemError(ErrorCode.RateLimited,
                    $"rate limit of {limits.PermitsPerSecond} requests/s (burst {limits.Burst}) exceeded (Catalog:Auth:RateLimit); retry after {retryAfter} s"),
                    context.HttpContext).ExecuteAsync(context.HttpContext);
            };
        });
        return builder;
    }

    public static WebApplication UseCatalogAuth(this WebApplication app)
    {
        // Failed authentications are counted per client address; an address past its budget has its
        // credentials refused before their signature is checked (each check costs the server a
        // signature verification, which is what a guessing client spends).
        var limits = app.Services.GetRequiredService<IOptions<AuthOptions>>().Value.RateLimit;
        var failures = PartitionedRateLimiter.Create<string, string>(address => RateLimitPartition.GetTokenBucketLimiter(address, _ =>
            new TokenBucketRateLimiterOptions
            {
                TokenLimit = limits.FailedBurst,
                TokensPerPeriod = limits.FailedPerSecond,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            }));
        app.Use(async (http, next) =>
        {
            if (limits.Enabled && WillVerify(http) && failures.GetStatistics(AddressOf(http))?.CurrentAvailablePermits == 0)
            {
                http.Response.Headers.RetryAfter = "1";
                await ErrorMapping.Problem(new ItemError(ErrorCode.RateLimited,
                    $"too many failed authentications from this address ({limits.FailedPerSecond}/s, burst {limits.FailedBurst}: Catalog:Auth:RateLimit:FailedPerSecond); retry after 1 s"),
                    http).ExecuteAsync(http);
                return;
            }
            await next(http);
        });
        app.UseAuthentication();
        // A bad token is a 401 even on a public read: the client asked to be someone and failed.
        app.Use(async (http, next) =>
        {
            if (WillVerify(http) && http.User.Identity?.IsAuthenticated != true) failures.AttemptAcquire(AddressOf(http)).Dispose();
            if (http.Request.Headers.Authorization.Count > 0 && http.User.Identity?.IsAuthenticated != true)
            {
                var result = await http.AuthenticateAsync();
                http.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
                await ErrorMapping.Problem(new ItemError(ErrorCode.Unauthorized, $"invalid token: {TokenRefusal(result.Failure, http)}"), http).ExecuteAsync(http);
                return;
            }
            if (http.Connection.ClientCertificate is not null && http.User.Identity?.IsAuthenticated != true
                && http.RequestServices.GetRequiredService<IOptions<AuthOptions>>().Value.X509.TrustedCaFile is not null)
            {
                var result = await http.AuthenticateAsync(CertificateAuthenticationDefaults.AuthenticationScheme);
                await ErrorMapping.Problem(new ItemError(ErrorCode.Unauthorized,
                    $"client certificate not accepted: {result.Failure?.Message ?? "untrusted"}"), http).ExecuteAsync(http);
                return;
            }
            await next(http);
        });
        app.UseRateLimiter();
        return app;
    }

    /// <summary>Whether the request carries credentials the server will verify (a bearer token, or a certificate where X.509 is configured).</summary>
    private static bool WillVerify(HttpContext http) =>
        http.Request.Headers.Authorization.Count > 0
        || (http.Connection.ClientCertificate is not null && http.RequestServices.GetRequiredService<IOptions<AuthOptions>>().Value.X509.TrustedCaFile is not null);

    private static string AddressOf(HttpContext http) => http.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    /// <summary>
    /// Compares distinguished names written either way: "CN=Alice, O=Belle" (as .NET prints them)
    /// or "/O=Belle/CN=Alice" (as grid tools do, most significant first).
    /// </summary>
    internal static bool SameDn(string a, string b) =>
        Rdns(a).SequenceEqual(Rdns(b), StringComparer.OrdinalIgnoreCase);

    private static IEnumerable<string> Rdns(string dn) => dn.StartsWith('/')
        ? dn.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Trim()).Reverse()
        : dn.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Trim());

    // Scoped: built once per request from the authenticated principal.
    private static Caller CallerOf(HttpContext http) =>
        TokenService.CallerFrom(http.User, http.Connection.RemoteIpAddress?.ToString(), http.TraceIdentifier);

    /// <summary>
    /// Why a bearer token was refused, in words a person can act on: the token library's own
    /// messages (IDX10223 ... [PII of type ... is hidden]) name neither the time nor the fix.
    /// </summary>
    internal static string TokenRefusal(Exception? failure, HttpContext http)
    {
        var auth = http.RequestServices.GetRequiredService<IOptions<AuthOptions>>().Value;
        static string At(DateTime t) => t.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        return failure switch
        {
            null => "no valid bearer token",
            SecurityTokenExpiredException e => $"token expired at {At(e.Expires)}; get a new one (catalog token issue, or ./run.sh's .data/auth/*.token)",
            SecurityTokenNotYetValidException e => $"token not valid before {At(e.NotBefore)} (is this machine's clock right?)",
            SecurityTokenNoExpirationException => "token has no expiry time (exp); this catalog accepts only tokens that expire",
            SecurityTokenInvalidAudienceException => $"token is for another audience; this catalog accepts audience '{auth.Audience}'",
            SecurityTokenInvalidIssuerException => $"token was issued by someone else; this catalog accepts issuer '{auth.Issuer}'",
            SecurityTokenInvalidAlgorithmException => "token is signed with an algorithm this catalog does not accept (ES256, ES384, RS256, PS256)",
            SecurityTokenSignatureKeyNotFoundException => "token is not signed by any of this catalog's keys (was it issued by another catalog?)",
            SecurityTokenInvalidSignatureException e when e.Message.StartsWith("the ", StringComparison.Ordinal) => e.Message,
            SecurityTokenInvalidSignatureException when http.Request.Headers.Authorization.ToString().EndsWith('.') =>
                "token is not signed (alg none, or no signature part); this catalog accepts only signed tokens",
            SecurityTokenInvalidSignatureException => "token signature does not verify with this catalog's keys (was it issued by another catalog, or altered?)",
            SecurityTokenMalformedException or ArgumentException => "not a token: a catalog token is a JWT, three base64url parts separated by dots",
            SecurityTokenException e when e.Message.StartsWith("IDX", StringComparison.Ordinal) => "token could not be validated",
            // Our own refusals (revoked, no jti) are already plain.
            _ when failure.Message.StartsWith("IDX", StringComparison.Ordinal) => "token could not be validated",
            _ => failure.Message,
        };
    }
}
