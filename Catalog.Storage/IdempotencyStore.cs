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
    /// <summary>
    /// Claims distinct keys in one statement; answers the hash and response of each key that was
    /// claimed before (a concurrent claim of the same key waits here until the first commits).
    /// </summary>
    public static async Task<Dictionary<string, (byte[] Hash, string? Response)>> ClaimManyAsync(NpgsqlConnection conn, NpgsqlTransaction tx,
        string[] keys, byte[][] hashes, CancellationToken ct)
    {
        if (keys.Length == 0) return [];
        const string sql = """
            insert into idempotency_key (key, request_hash) select * from unnest(@keys, @hashes)
            on conflict (key) do nothing returning key
            """;
        var claimed = (await conn.QueryAsync<string>(new CommandDefinition(sql, new { keys, hashes }, tx, cancellationToken: ct))).ToHashSet(StringComparer.Ordinal);
        var earlier = keys.Where(k => !claimed.Contains(k)).ToArray();
        if (earlier.Length == 0) return [];
        const string read = "select key, request_hash, response from idempotency_key where key = any(@earlier)";
        return (await conn.QueryAsync<(string Key, byte[] Hash, string? Response)>(new CommandDefinition(read, new { earlier }, tx, cancellationToken: ct)))
            .ToDictionary(r => r.Key, r => (r.Hash, r.Response), StringComparer.Ordinal);
    }

    /// <summary>Whether a key was claimed before (by a committed or a concurrent request).</summary>
    public static Task<bool> ExistsAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string key, CancellationToken ct) =>
        conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "select exists (select 1 from idempotency_key where key = @key)", new { key }, tx, cancellationToken: ct));

    /// <summary>Stores the answers of claimed keys in one statement.</summary>
    public static Task CompleteManyAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string[] keys, string[] responses, CancellationToken ct)
    {
        if (keys.Length == 0) return Task.CompletedTask;
        const string sql = """
            update idempotency_key k set response = v.response
            from unnest(@keys, @responses) v(key, response) where k.key = v.key
            """;
        return conn.ExecuteAsync(new CommandDefinition(sql, new { keys, responses }, tx, cancellationToken: ct));
    }

    /// <summary>
    /// Stores the answer of one claimed key from its UTF-8 JSON, sent as bytes and made text by
    /// PostgreSQL: a large answer then needs no string in the server (a 1,000-file answer is
    /// about 250 kB, which as a string landed on the large-object heap every batch).
    /// </summary>
    public static async Task CompleteAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string key, ReadOnlyMemory<byte> utf8Response, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("update idempotency_key set response = convert_from(@response, 'UTF8') where key = @key", conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter<string>("key", key));
        cmd.Parameters.Add(new NpgsqlParameter<ReadOnlyMemory<byte>>("response", utf8Response) { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bytea });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Deletes keys created before <paramref name="before"/>; answers how many.</summary>
    public static async Task<int> ExpireAsync(NpgsqlDataSource db, DateTimeOffset before, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        const string sql = "delete from idempotency_key where created < @before";
        return await conn.ExecuteAsync(new CommandDefinition(sql, new { before }, cancellationToken: ct));
    }

    /// <summary>Gives a claimed key back (its request was refused inside a shared transaction).</summary>
    public static Task ReleaseAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string[] keys, CancellationToken ct) =>
        keys.Length == 0 ? Task.CompletedTask
            : conn.ExecuteAsync(new CommandDefinition("delete from idempotency_key where key = any(@keys) and response is null", new { keys }, tx, cancellationToken: ct));
}
