using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Catalog.Client;
using Catalog.Contracts;
using Microsoft.AspNetCore.Http;

namespace Catalog.Modules;

/// <summary>
/// Who calls a module's API: the catalog is the identity provider, so a caller's bearer token
/// is shown to the catalog's whoami (answers cached 30 s by token hash). Reading needs a valid token;
/// changing something needs the admin role or a storage.modify scope over the path it concerns.
/// </summary>
public sealed class CallerIdentity(Uri catalogUrl)
{
    private readonly ConcurrentDictionary<string, (WhoAmI Who, DateTime Until)> cache = new();
    // One connection pool (and retry policy: one retry) for every caller; only the header differs.
    private readonly HttpMessageHandler handler = WithRetry();

    private static DelegatingHandler WithRetry()
    {
        var retry = CatalogResilience.CreateHandler(new CatalogClientOptions { MaxRetries = 1 });
        retry.InnerHandler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
        return retry;
    }

    public async Task<WhoAmI> RequireAsync(HttpContext http, string? modifies = null)
    {
        var header = http.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= 7)
            throw new ServiceException(ErrorCode.Unauthorized, "a bearer token (the catalog's) is required");
        var token = header[7..].Trim();
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
        if (!cache.TryGetValue(key, out var entry) || entry.Until < DateTime.UtcNow)
        {
            WhoAmI who;
            try
            {
                using var client = new HttpClient(handler, disposeHandler: false) { BaseAddress = catalogUrl, Timeout = TimeSpan.FromSeconds(30) };
                client.DefaultRequestHeaders.Authorization = new("Bearer", token);
                who = await new CatalogClient(client).WhoAmIAsync(http.RequestAborted);
            }
            catch (CatalogUnauthorizedException e) { throw new ServiceException(ErrorCode.Unauthorized, $"the catalog did not accept the token: {e.Message}"); }
            if (!who.Authenticated) throw new ServiceException(ErrorCode.Unauthorized, "the catalog did not accept the token");
            entry = (who, DateTime.UtcNow.AddSeconds(30));
            if (cache.Count > 10_000) cache.Clear();
            cache[key] = entry;
        }
        if (modifies is not null && !MayModify(entry.Who, modifies))
            throw new ServiceException(ErrorCode.Forbidden, $"{entry.Who.Subject} may not modify {modifies} (needs the admin role or a storage.modify scope over it)");
        return entry.Who;
    }

    public static bool MayModify(WhoAmI who, string path) =>
        who.Roles.Contains("admin") || who.Scopes.Any(s => s.StartsWith("storage.modify:", StringComparison.Ordinal)
            && s["storage.modify:".Length..].TrimEnd('/') is var scope && (scope.Length == 0 || path == scope || path.StartsWith(scope + "/", StringComparison.Ordinal)));
}
