using Catalog.Api.Hosting;
using Catalog.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Catalog.Api.Files;

/// <summary>
/// Deletes idempotency keys older than <see cref="CatalogOptions.IdempotencyKeyLifetime"/>, every
/// tenth of that lifetime. Clients add a key to every batch registration, so without this the
/// table would grow by one stored answer per batch forever.
/// </summary>
public sealed class IdempotencyKeyExpiry(NpgsqlDataSource db, IOptions<CatalogOptions> options, ILogger<IdempotencyKeyExpiry> log)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var lifetime = options.Value.IdempotencyKeyLifetime;
        using var timer = new PeriodicTimer(lifetime / 10);
        do
        {
            try
            {
                var removed = await IdempotencyStore.ExpireAsync(db, DateTimeOffset.UtcNow - lifetime, stoppingToken);
                if (removed > 0) log.LogInformation("Expired {Count} idempotency keys older than {Lifetime}", removed, lifetime);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                log.LogWarning(e, "Could not expire idempotency keys; trying again later");
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
