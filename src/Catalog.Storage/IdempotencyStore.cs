using Dapper;
using Npgsql;

namespace Catalog.Storage;

/// <summary>
/// Idempotency keys of batch writes. The key row is inserted first in the batch's own
/// transaction: a concurrent retry with the same key blocks on it until the first commits,
/// then reads the first answer instead of doing the work twice.
/// </summary>
public static class IdempotencyStore
{
    /// <summary>Claims a key; when it was already claimed, answers the stored hash and response.</summary>
    public static async Task<(byte[] Hash, string? Response)?> ClaimAsync(NpgsqlConnection conn, NpgsqlTransaction tx,
        string key, byte[] hash, CancellationToken ct)
    {
        const string sql = """
            insert into idempotency_key (key, request_hash) values (@key, @hash)
            on conflict (key) do nothing
            """;
        if (await conn.ExecuteAsync(new CommandDefinition(sql, new { key, hash }, tx, cancellationToken: ct)) == 1)
            return null;
        const string read = "select request_hash, response::text from idempotency_key where key = @key";
        return await conn.QuerySingleAsync<(byte[], string?)>(new CommandDefinition(read, new { key }, tx, cancellationToken: ct));
    }

    public static Task CompleteAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string key, string response, CancellationToken ct)
    {
        const string sql = "update idempotency_key set response = @response::jsonb where key = @key";
        return conn.ExecuteAsync(new CommandDefinition(sql, new { key, response }, tx, cancellationToken: ct));
    }

    /// <summary>Deletes keys created before <paramref name="before"/>; answers how many.</summary>
    public static async Task<int> ExpireAsync(NpgsqlDataSource db, DateTimeOffset before, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        const string sql = "delete from idempotency_key where created < @before";
        return await conn.ExecuteAsync(new CommandDefinition(sql, new { before }, cancellationToken: ct));
    }

    /// <summary>Gives a claimed key back (its request was refused inside a shared transaction).</summary>
    public static Task ReleaseAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string key, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("delete from idempotency_key where key = @key and response is null", new { key }, tx, cancellationToken: ct));
}
