using Npgsql;
using NpgsqlTypes;

namespace Catalog.Storage;

/// <summary>
/// An attribute a query returns or facets over: a built-in column expression, or a key of a JSON
/// metadata column (<c>f.metadata</c> or <c>d.eff_metadata</c>); <paramref name="DirectoryLevel"/>
/// when its value lives on directories.
/// </summary>
public sealed record Projection(string Name, bool BuiltIn, string Expression, string? JsonColumn, bool DirectoryLevel);

/// <summary>
/// A metadata query compiled from a validated syntax tree: conditions on directories and on the
/// rest (files, or datasets' own columns), each a parameterized SQL fragment over the aliases
/// <c>d</c> (directory) and <c>f</c> (file), plus the scopes (paths) it runs under and the
/// <see cref="Viewer"/> whose read rule it obeys (null: a caller modes do not bind).
/// </summary>
public sealed record CompiledQuery(bool Datasets, string[] Scopes, string? DirectoryCondition, string? OtherCondition,
    IReadOnlyList<NpgsqlParameter> Parameters, IReadOnlyList<Projection> Attributes, Viewer? Viewer = null);

/// <summary>
/// The SQL shapes of metadata queries and facets: a bounded set of statements, each filled only
/// with fragments compiled from a syntax tree and with parameters. No user text reaches here.
/// </summary>
public static class MetadataQueryStore
{
    /// <summary>
    /// Every match after the keyset cursor <paramref name="after"/> (the last LFN or LPN seen; "" from
    /// the start), in path order, streamed. The same <see cref="QueryMatch"/> is answered for every
    /// row: read what is needed of it before the next.
    /// </summary>
    public static async IAsyncEnumerable<QueryMatch> ReadAsync(NpgsqlConnection conn, CompiledQuery query,
        string after, int? limit, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var (sql, parameters) = Select(query, after, limit);
        await using var tx = await CustomPlansAsync(conn, ct);
        // Replicas come as SE ids: the names are read once (a handful of rows), not joined per file.
        var seNames = new Dictionary<int, string>();
        if (query.Attributes.Any(a => KindOf(a) is QueryMatch.Kind.Replicas or QueryMatch.Kind.Se))
        {
            await using var ses = new NpgsqlCommand("select id, name from storage_element", conn, tx);
            await using var names = await ses.ExecuteReaderAsync(ct);
            while (await names.ReadAsync(ct)) seNames[names.GetInt16(0)] = names.GetString(1);
        }
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddRange(parameters.ToArray());
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var match = new QueryMatch(reader, query.Attributes.Select(a => (a.Name, KindOf(a))).ToList(), seNames);
        while (await reader.ReadAsync(ct))
        {
            match.Read();
            yield return match;
        }
    }

    /// <summary>EXPLAIN ANALYZE of what <see cref="ReadAsync"/> would run.</summary>
    public static Task<IReadOnlyList<string>> ExplainAsync(NpgsqlConnection conn, CompiledQuery query, string after, int? limit, bool forceSequentialScan, CancellationToken ct)
    {
        var (sql, parameters) = Select(query, after, limit);
        return ExplainSqlAsync(conn, sql, parameters, forceSequentialScan, ct);
    }

    /// <summary>
    /// Distinct values with counts of <paramref name="facets"/> over a query's matches: the total
    /// first, then up to <paramref name="top"/> values per attribute (value as JSON text).
    /// </summary>
    public static async Task<(long Total, List<(string Attribute, string? Value, long Count)> Values)> FacetsAsync(NpgsqlConnection conn,
        CompiledQuery query, int top, CancellationToken ct)
    {
        var (sql, parameters) = Facets(query, top, await CountersServeAsync(conn, query, ct));
        await using var tx = await CustomPlansAsync(conn, ct);
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.AddRange(parameters.ToArray());
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        long total = 0;
        var values = new List<(string, string?, long)>();
        while (await reader.ReadAsync(ct))
        {
            var attr = reader.GetString(0);
            if (attr.Length == 0) total = reader.GetInt64(2);
            else values.Add((attr, reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetInt64(2)));
        }
        return (total, values);
    }

    /// <summary>EXPLAIN ANALYZE of what <see cref="FacetsAsync"/> would run.</summary>
    public static async Task<IReadOnlyList<string>> ExplainFacetsAsync(NpgsqlConnection conn, CompiledQuery query, int top, bool forceSequentialScan, CancellationToken ct)
    {
        var (sql, parameters) = Facets(query, top, await CountersServeAsync(conn, query, ct));
        return await ExplainSqlAsync(conn, sql, parameters, forceSequentialScan, ct);
    }

    /// <summary>
    /// One partial expression index per indexed attribute name and type, on file.metadata or
    /// directory.eff_metadata; <paramref name="expression"/> is the very expression (and the
    /// predicate the very one) the query compiler emits, so the planner can use it. Built
    /// concurrently, so declaring does not block registrations.
    /// </summary>
    /// <param name="name">An attribute name, already checked to be [A-Za-z0-9_].</param>
    public static async Task EnsureAttributeIndexAsync(NpgsqlConnection conn, bool onFiles, string name, string typeName, string expression, CancellationToken ct)
    {
        var (table, column) = onFiles ? ("file", "metadata") : ("directory", "eff_metadata");
        // Long names are hashed to fit PostgreSQL's 63-byte identifiers.
        var index = $"attr_{table}_{name}_{typeName}";
        if (index.Length > 63)
            index = $"attr_{table}_{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(name)))[..16]}_{typeName}";
        await using var cmd = new NpgsqlCommand($"create index concurrently if not exists \"{index}\" on {table} (({expression})) where {column} ? '{name}'", conn)
            { CommandTimeout = 0 };
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static (string Sql, List<NpgsqlParameter> Parameters) Select(CompiledQuery q, string after, int? limit)
    {
        var parameters = q.Parameters.Select(p => p.Clone()).ToList();
        var scopeSql = ScopeSql("d.path", q.Scopes, parameters);
        Viewer.AddTo(q.Viewer, parameters);
        var (dirSeen, fileSeen) = (Viewer.DirectoryVisible(q.Viewer, "d"), Viewer.FileVisible(q.Viewer, "f", "d"));
        var columns = string.Concat(q.Attributes.Select(a => $", {ColumnOf(a)}"));
        var limitSql = limit is null ? "" : $" limit {limit.Value}";
        if (q.Datasets)
        {
            parameters.Add(new NpgsqlParameter("after", NpgsqlDbType.Text) { Value = after });
            return ($"""
                select d.path{columns}
                from directory d
                where d.kind = 1 and {scopeSql} and {Where(q.DirectoryCondition, q.OtherCondition)} and {dirSeen} and d.path > @after
                order by d.path{limitSql}
                """, parameters);
        }
        // Files come in LFN order (directory path, then name), so a page is a keyset range and
        // the next page starts where this one stopped without sorting every match.
        var cut = after.LastIndexOf('/');
        parameters.Add(new NpgsqlParameter("afterDir", NpgsqlDbType.Text) { Value = cut < 0 ? "" : after[..cut] });
        parameters.Add(new NpgsqlParameter("afterName", NpgsqlDbType.Text) { Value = cut < 0 ? "" : after[(cut + 1)..] });
        const string keyset = "(d.path > @afterDir or (d.path = @afterDir and f.name > @afterName))";
        return (q.DirectoryCondition is null
            ? $"""
              select d.path || '/' || f.name{columns}
              from file f join directory d on d.id = f.dir_id
              where {scopeSql} and {Where(null, q.OtherCondition)} and {fileSeen} and {keyset}
              order by d.path, f.name{limitSql}
              """
            // Directory conditions first (few rows: GIN and expression indexes), walked in path
            // order; each directory's files come from the (dir_id, name) index already in name
            // order, so a page stops at its limit instead of sorting every match.
            : $"""
              select d.path || '/' || f.name{columns}
              from (select d.id, d.path, d.name, d.created, d.eff_metadata, d.gate_id from directory d
                    where {scopeSql} and {q.DirectoryCondition} and d.path >= @afterDir order by d.path) d
              cross join lateral (select f.* from file f where f.dir_id = d.id and {Where(null, q.OtherCondition)} and {fileSeen} order by f.name) f
              where {keyset}
              order by d.path, f.name{limitSql}
              """, parameters);
    }

    /// <summary>
    /// Whether the per-directory usage counters can count the files (instead of scanning them): every condition and faceted
    /// attribute sits on directories, and no file in scope is hidden from the query's viewer (the
    /// counters count every file). Only then is the (small) hidden-file index asked.
    /// </summary>
    private static async Task<bool> CountersServeAsync(NpgsqlConnection conn, CompiledQuery q, CancellationToken ct) =>
        !q.Datasets && q.OtherCondition is null && q.Attributes.All(a => a.DirectoryLevel)
        && !await Viewer.HidesFilesAsync(conn, q.Viewer, q.Scopes, ct);

    private static (string Sql, List<NpgsqlParameter> Parameters) Facets(CompiledQuery q, int top, bool counters)
    {
        var parameters = q.Parameters.Select(p => p.Clone()).ToList();
        var scopeSql = ScopeSql("d.path", q.Scopes, parameters);
        Viewer.AddTo(q.Viewer, parameters);
        var (dirSeen, fileSeen) = (Viewer.DirectoryVisible(q.Viewer, "d"), Viewer.FileVisible(q.Viewer, "f", "d"));
        string source;
        if (q.Datasets)
            source = $"select d.eff_metadata, null::jsonb as metadata, 1::bigint as n from directory d where d.kind = 1 and {scopeSql} and {Where(q.DirectoryCondition, q.OtherCondition)} and {dirSeen}";
        else if (counters)
            source = $"""
                select d.eff_metadata, null::jsonb as metadata, u.files as n
                from directory d join directory_usage u on u.dir_id = d.id and u.se_id = 0
                where {scopeSql} and {q.DirectoryCondition ?? "true"} and {(q.Viewer is null ? "true" : Viewer.Searchable("d"))} and u.files <> 0
                """;
        else
            source = q.DirectoryCondition is null
                ? $"select d.eff_metadata, f.metadata, 1::bigint as n from file f join directory d on d.id = f.dir_id where {scopeSql} and {Where(null, q.OtherCondition)} and {fileSeen}"
                : $"""
                  select d.eff_metadata, f.metadata, 1::bigint as n
                  from (select d.id, d.path, d.name, d.created, d.eff_metadata, d.gate_id from directory d where {scopeSql} and {q.DirectoryCondition} offset 0) d
                  join file f on f.dir_id = d.id where {Where(null, q.OtherCondition)} and {fileSeen}
                  """;
        // One pass over the matches: every faceted key/value pair (own values merged with inherited
        // ones: an attribute lives at one level only, so they never clash), counted, top N per key.
        parameters.Add(new NpgsqlParameter("facetNames", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = q.Attributes.Select(a => a.Name).ToArray() });
        return ($"""
            with m as materialized ({source})
            select '' as attr, null::text as value, coalesce(sum(n), 0)::bigint as n, 0::bigint as rank from m
            union all
            select attr, value, n, rank from (
                select kv.key as attr, kv.value::text as value, sum(m.n)::bigint as n,
                       -- Most frequent first; ties by value in the attribute's own order (numbers as numbers: 7, 8, 10, not 10, 7, 8).
                       row_number() over (partition by kv.key order by sum(m.n) desc,
                           case when jsonb_typeof(kv.value) = 'number' then (kv.value::text)::numeric end, kv.value::text) as rank
                from m, jsonb_each(coalesce(m.metadata, jsonb_build_object()) || coalesce(m.eff_metadata, jsonb_build_object())) kv
                where kv.key = any(@facetNames)
                group by kv.key, kv.value
                having sum(m.n) > 0) g
            where rank <= {top}
            order by attr, rank
            """, parameters);
    }

    internal static QueryMatch.Kind KindOf(Projection a) => !a.BuiltIn ? QueryMatch.Kind.Json : a.Name switch
    {
        "size" => QueryMatch.Kind.Size,
        "adler32" => QueryMatch.Kind.Adler32,
        "replicas" => QueryMatch.Kind.Replicas,
        "se" => QueryMatch.Kind.Se,
        _ => QueryMatch.Kind.Json,
    };

    /// <summary>
    /// The column an attribute is read from (see <see cref="QueryMatch"/>): size and checksum as
    /// stored, replicas as one integer each (SE id times 4 plus state, null without any), the
    /// rest as JSON text.
    /// </summary>
    private static string ColumnOf(Projection a) => KindOf(a) switch
    {
        QueryMatch.Kind.Size => "f.size",
        QueryMatch.Kind.Adler32 => "f.adler32",
        QueryMatch.Kind.Replicas or QueryMatch.Kind.Se => "(select array_agg(r.se_id::int * 4 + r.state) from replica r where r.file_id = f.id)",
        _ => a.BuiltIn ? $"to_jsonb({a.Expression})::text" : $"({a.JsonColumn}->'{a.Name}')::text",
    };

    /// <summary>"At or below one of the scopes", as plain range conditions on the path index.</summary>
    private static string ScopeSql(string column, string[] scopes, List<NpgsqlParameter> parameters)
    {
        var parts = new List<string>();
        foreach (var scope in scopes)
        {
            var i = parameters.Count;
            parameters.Add(new NpgsqlParameter($"s{i}", NpgsqlDbType.Text) { Value = scope });
            parameters.Add(new NpgsqlParameter($"s{i}lo", NpgsqlDbType.Text) { Value = scope + "/" });
            parameters.Add(new NpgsqlParameter($"s{i}hi", NpgsqlDbType.Text) { Value = scope + "0" });
            parts.Add($"{column} = @s{i} or ({column} > @s{i}lo and {column} < @s{i}hi)");
        }
        return "(" + string.Join(" or ", parts) + ")";
    }

    private static string Where(string? a, string? b) => (a, b) switch
    {
        (null, null) => "true",
        (null, _) => b!,
        (_, null) => a,
        _ => $"{a} and {b}",
    };

    private static async Task<IReadOnlyList<string>> ExplainSqlAsync(NpgsqlConnection conn, string sql, List<NpgsqlParameter> parameters,
        bool forceSequentialScan, CancellationToken ct)
    {
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (forceSequentialScan)
            await using (var off = new NpgsqlCommand("set local enable_indexscan = off; set local enable_bitmapscan = off; set local enable_indexonlyscan = off", conn, tx))
                await off.ExecuteNonQueryAsync(ct);
        await using var cmd = new NpgsqlCommand("explain (analyze, buffers, format text) " + sql, conn, tx) { CommandTimeout = 600 };
        cmd.Parameters.AddRange(parameters.ToArray());
        var lines = new List<string>();
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct)) lines.Add(reader.GetString(0));
        await tx.RollbackAsync(ct);
        return lines;
    }

    /// <summary>
    /// A read-only transaction planning every statement for its own parameter values. The data
    /// source auto-prepares repeated statements, and after five executions PostgreSQL may switch a
    /// prepared statement to a generic plan; for metadata queries, whose selectivity depends
    /// entirely on the values (one dataset or a whole campaign), a generic plan was measured at
    /// 750 ms where the custom one takes 20 ms on 10 million files.
    /// </summary>
    private static async Task<NpgsqlTransaction> CustomPlansAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.ReadCommitted, ct);
        await using var set = new NpgsqlCommand("set local plan_cache_mode = force_custom_plan; set transaction read only", conn, tx);
        await set.ExecuteNonQueryAsync(ct);
        return tx;
    }
}
