using Dapper;
using Npgsql;

namespace Catalog.Storage;

/// <summary>The registry of storage elements, with their usage counters summed over shards.</summary>
public static class StorageElementStore
{
    private const string SelectColumns = """
        select s.id, s.name, s.site, s.protocol, s.base_url as BaseUrl, s.read_enabled as ReadEnabled,
               s.write_enabled as WriteEnabled, s.state,
               coalesce(u.files, 0) as files, coalesce(u.bytes, 0) as bytes, s.attributes::text as attributes
        from storage_element s
        left join (select se_id, sum(files)::bigint as files, sum(bytes)::bigint as bytes
                   from se_usage group by se_id) u on u.se_id = s.id
        """;

    public static async Task<IReadOnlyList<StorageElementRow>> ListAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, CancellationToken ct)
    {
        const string sql = SelectColumns + " order by s.name";
        return (await conn.QueryAsync<StorageElementRow>(new CommandDefinition(sql, transaction: tx, cancellationToken: ct))).AsList();
    }

    /// <summary>
    /// The registry without usage (Files and Bytes are 0): what a write batch checks its
    /// replicas against, so the hot path does not sum counter shards it never reads.
    /// </summary>
    public static async Task<IReadOnlyList<StorageElementRow>> ListRegistryAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, CancellationToken ct)
    {
        const string sql = """
            select id, name, site, protocol, base_url as BaseUrl, read_enabled as ReadEnabled,
                   write_enabled as WriteEnabled, state, 0::bigint as files, 0::bigint as bytes, attributes::text as attributes
            from storage_element
            """;
        return (await conn.QueryAsync<StorageElementRow>(new CommandDefinition(sql, transaction: tx, cancellationToken: ct))).AsList();
    }

    /// <summary>Every replica on one SE with its file's LFN, size and checksum, streamed (one scan, no paging).</summary>
    public static async IAsyncEnumerable<(string Lfn, long Size, int Adler32, short State, string? Pfn)> DumpAsync(NpgsqlConnection conn, short seId,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("""
            select d.path || '/' || f.name, f.size, f.adler32, r.state, r.pfn
            from replica r join file f on f.id = r.file_id join directory d on d.id = f.dir_id
            where r.se_id = @seId
            """, conn);
        cmd.Parameters.AddWithValue("seId", seId);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            yield return (reader.GetString(0), reader.GetInt64(1), reader.GetInt32(2), reader.GetInt16(3), reader.IsDBNull(4) ? null : reader.GetString(4));
    }

    public static Task<StorageElementRow?> GetAsync(NpgsqlConnection conn, string name, CancellationToken ct)
    {
        const string sql = SelectColumns + " where s.name = @name";
        return conn.QuerySingleOrDefaultAsync<StorageElementRow>(new CommandDefinition(sql, new { name }, cancellationToken: ct));
    }

    public static Task UpsertAsync(NpgsqlConnection conn, string name, string site, string protocol, string baseUrl,
        bool readEnabled, bool writeEnabled, short state, string? attributes, CancellationToken ct)
    {
        // attributes null keeps the stored ones (a new SE gets none).
        const string sql = """
            insert into storage_element (name, site, protocol, base_url, read_enabled, write_enabled, state, attributes)
            values (@name, @site, @protocol, @baseUrl, @readEnabled, @writeEnabled, @state, coalesce(@attributes::jsonb, '{}'))
            on conflict (name) do update set
                site = excluded.site, protocol = excluded.protocol, base_url = excluded.base_url,
                read_enabled = excluded.read_enabled, write_enabled = excluded.write_enabled,
                state = excluded.state, attributes = coalesce(@attributes::jsonb, storage_element.attributes), modified = now()
            """;
        return conn.ExecuteAsync(new CommandDefinition(sql,
            new { name, site, protocol, baseUrl, readEnabled, writeEnabled, state, attributes }, cancellationToken: ct));
    }

    /// <summary>
    /// Deletes an SE that holds no replicas (by its exact counters); false when it still holds
    /// some or is absent. The replica foreign key backs this up, at the price of a scan: SEs are
    /// deleted a few times a year.
    /// </summary>
    /// <summary>Renames an SE; replicas point at its id, so each keeps it. False when <paramref name="to"/> is taken.</summary>
    public static async Task<bool> RenameAsync(NpgsqlConnection conn, string from, string to, CancellationToken ct)
    {
        try
        {
            return await conn.ExecuteAsync(new CommandDefinition("update storage_element set name = @to where name = @from",
                new { from, to }, cancellationToken: ct)) == 1;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation) { return false; }
    }

    public static async Task<bool> DeleteIfEmptyAsync(NpgsqlConnection conn, string name, CancellationToken ct)
    {
        const string sql = """
            delete from storage_element s
            where s.name = @name
              and coalesce((select sum(u.files) from se_usage u where u.se_id = s.id), 0) = 0
            """;
        var deleted = await conn.ExecuteAsync(new CommandDefinition(sql, new { name }, cancellationToken: ct));
        return deleted > 0;
    }
}
