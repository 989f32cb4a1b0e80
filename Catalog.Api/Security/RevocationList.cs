using System.Collections.Concurrent;
using Catalog.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Catalog.Api.Security;

/// <summary>
/// Revoked token ids, checked on every authenticated request without a database round trip.
/// The revoking process knows at once; every other process reloads the list each
/// <see cref="AuthOptions.RevocationRefresh"/> (5 s): that is the bound on revocation delay.
/// </summary>
public sealed class RevocationList
{
    private volatile ConcurrentDictionary<Guid, DateTime> _revoked = new();

    public bool IsRevoked(Guid jti) => _revoked.ContainsKey(jti);

    public void Add(Guid jti, DateTime expires) => _revoked[jti] = expires;

    internal void Replace(IEnumerable<(Guid Jti, DateTime Expires)> rows) =>
        _revoked = new ConcurrentDictionary<Guid, DateTime>(rows.Select(r => KeyValuePair.Create(r.Jti, r.Expires)));

    /// <summary>The poller that keeps the list current.</summary>
    public sealed class Refresher(RevocationList list, NpgsqlDataSource db, IOptions<AuthOptions> options, ILogger<Refresher> log)
        : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            using var timer = new PeriodicTimer(options.Value.RevocationRefresh);
            do
            {
                try
                {
                    await using var conn = await db.OpenConnectionAsync(stoppingToken);
                    list.Replace(await TokenStore.RevokedAsync(conn, options.Value.ClockSkew, stoppingToken));
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException)
                {
                    log.LogWarning(e, "Could not reload the token revocation list; keeping the previous one");
                }
            } while (await timer.WaitForNextTickAsync(stoppingToken));
        }
    }
}
