using Dapper;
using Npgsql;
using NpgsqlTypes;

namespace Catalog.Storage;

/// <summary>An audit event to write.</summary>
public sealed record AuditRow(DateTimeOffset At, string Subject, Guid? TokenId, string? Remote, string? RequestId,
    string Action, string? Path, string Outcome, string? Detail);

/// <summary>An audit event as read (a class: Dapper fills it through properties).</summary>
public sealed class StoredAuditRow
{
    public long Id { get; init; }
    public DateTime At { get; init; }
    public string Subject { get; init; } = "";
    public Guid? TokenId { get; init; }
    public string? Remote { get; init; }
    public string? RequestId { get; init; }
    public string Action { get; init; } = "";
    public string? Path { get; init; }
    public string Outcome { get; init; } = "";
    public string? Detail { get; init; }
}

/// <summary>The audit trail: appended with binary COPY, read by path prefix, subject and time.</summary>
public static class AuditStore
{
    public static async Task CopyAsync(NpgsqlDataSource db, IReadOnlyList<AuditRow> rows, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var copy = await conn.BeginBinaryImportAsync(
            "copy audit_event (at, subject, token_id, remote, request_id, action, path, outcome, detail) from stdin (format binary)", ct);
        foreach (var r in rows)
        {
            await copy.StartRowAsync(ct);
            await copy.WriteAsync(r.At, NpgsqlDbType.TimestampTz, ct);
            await copy.WriteAsync(r.Subject, NpgsqlDbType.Text, ct);
            if (r.TokenId is { } t) await copy.WriteAsync(t, NpgsqlDbType.Uuid, ct); else await copy.WriteNullAsync(ct);
            await WriteTextAsync(copy, r.Remote, ct);
            await WriteTextAsync(copy, r.RequestId, ct);
            await copy.WriteAsync(r.Action, NpgsqlDbType.Text, ct);
            await WriteTextAsync(copy, r.Path, ct);
            await copy.WriteAsync(r.Outcome, NpgsqlDbType.Text, ct);
            if (r.Detail is { } d) await copy.WriteAsync(d, NpgsqlDbType.Jsonb, ct); else await copy.WriteNullAsync(ct);
        }
        await copy.CompleteAsync(ct);
    }

    private static Task WriteTextAsync(NpgsqlBinaryImporter copy, string? value, CancellationToken ct) =>
        value is null ? copy.WriteNullAsync(ct) : copy.WriteAsync(value, NpgsqlDbType.Text, ct);

    /// <summary>Events at or under <paramref name="path"/>, by <paramref name="subject"/>, in [from, to), oldest first, after id <paramref name="after"/>.</summary>
    public static async Task<IReadOnlyList<StoredAuditRow>> QueryAsync(NpgsqlConnection conn, string? path, string? subject,
        DateTimeOffset? from, DateTimeOffset? to, long after, int limit, CancellationToken ct)
    {
        const string sql = """
            select at, subject, token_id as TokenId, remote, request_id as RequestId, action, path, outcome, detail::text as Detail, id
            from audit_event
            where id > @after
              and (@path::text is null or path = @path or (path > @path || '/' and path < @path || '0'))
              and (@subject::text is null or subject = @subject)
              and (@from::timestamptz is null or at >= @from)
              and (@to::timestamptz is null or at < @to)
            order by id
            limit @limit
            """;
        return (await conn.QueryAsync<StoredAuditRow>(new CommandDefinition(sql, new { path, subject, from, to, after, limit }, cancellationToken: ct))).AsList();
    }
}
