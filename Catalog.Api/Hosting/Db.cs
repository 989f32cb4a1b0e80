using Npgsql;

namespace Catalog.Api.Hosting;

/// <summary>Opens connections and runs write transactions, retrying the ones PostgreSQL says are safe to rerun.</summary>
public sealed class Db(NpgsqlDataSource dataSource)
{
    private const int MaxAttempts = 5;

    public ValueTask<NpgsqlConnection> OpenAsync(CancellationToken ct) => dataSource.OpenConnectionAsync(ct);

    /// <summary>
    /// Runs <paramref name="work"/> in one transaction. Deadlocks, serialization failures and a
    /// parent directory removed under a concurrent write (23503) roll back and rerun the whole
    /// unit, which is safe because every write is expressed as an idempotent upsert.
    /// </summary>
    public async Task<T> WriteAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            await using var conn = await dataSource.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            try
            {
                var result = await work(conn, tx);
                await tx.CommitAsync(ct);
                return result;
            }
            catch (PostgresException e) when (attempt < MaxAttempts && e.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected
                                                                   or PostgresErrorCodes.ForeignKeyViolation)
            {
                await tx.RollbackAsync(CancellationToken.None);
                await Task.Delay(Random.Shared.Next(2, 10 * attempt), ct);
            }
        }
    }
}
