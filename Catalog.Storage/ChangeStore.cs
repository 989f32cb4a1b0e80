using Dapper;
using Npgsql;

namespace Catalog.Storage;

/// <summary>
/// The change feed (schema 007): rows written by triggers in the changing transaction, read in
/// (xid, id) order up to the oldest transaction still running, so that a page never skips a row
/// a late commit adds below it.
/// </summary>
public static class ChangeStore
{
    /// <summary>A feed position: every row at or before it has been read.</summary>
    public readonly record struct Position(ulong Xid, long Id) : IComparable<Position>
    {
        public static readonly Position Start = new(0, 0);
        public int CompareTo(Position other) => Xid != other.Xid ? Xid.CompareTo(other.Xid) : Id.CompareTo(other.Id);
        public static bool operator <(Position a, Position b) => a.CompareTo(b) < 0;
        public static bool operator >(Position a, Position b) => a.CompareTo(b) > 0;
        public static Position Max(Position a, Position b) => a > b ? a : b;
    }

    public sealed record ChangeRow(short Kind, DateTime At, string Lfn, string? OldLfn, string? Dataset, short? SeId, short? State,
        Guid? Guid, long? Size, int? Adler32);

    /// <summary>
    /// Up to <paramref name="limit"/> rows after <paramref name="after"/> whose LFN (or old LFN) lies
    /// under <paramref name="prefix"/> ("" for all), looking at no more than <paramref name="scan"/>
    /// rows. Answers the rows and the position to read on from: the last row answered when the page
    /// is full, else the last row looked at, else the head (every transaction older than the
    /// oldest one running is complete, so nothing can appear below it any more).
    /// </summary>
    public static async Task<(List<ChangeRow> Rows, Position Next)> ReadAsync(NpgsqlConnection conn, Position after, string prefix,
        int limit, int scan, CancellationToken ct)
    {
        // One statement, so the snapshot that bounds the scan is the one that reads it. Rows
        // outside the prefix come back as keys only.
        const string sql = """
            with snap as materialized (select pg_snapshot_xmin(pg_current_snapshot()) as xmin),
            scanned as materialized (
                select c.* from change c, snap
                where (c.xid, c.id) > (@xid::text::xid8, @id) and c.xid < snap.xmin
                order by c.xid, c.id
                limit @scan
            )
            select s.xmin::text, c.xid::text, c.id, c.hit, c.kind, c.at, c.lfn, c.old_lfn, c.dataset, c.se_id, c.state, c.guid, c.size, c.adler32
            from snap s left join lateral (
                select x.xid, x.id, h.hit, x.kind,
                       case when h.hit then x.at end as at, case when h.hit then x.lfn end as lfn,
                       case when h.hit then x.old_lfn end as old_lfn, case when h.hit then x.dataset end as dataset,
                       x.se_id, x.state, x.guid, x.size, x.adler32
                from scanned x
                cross join lateral (select coalesce(@prefix = ''
                    or x.lfn = @prefix or (x.lfn >= @prefix || '/' and x.lfn < @prefix || '0')
                    or x.old_lfn = @prefix or (x.old_lfn >= @prefix || '/' and x.old_lfn < @prefix || '0')
                    or (x.kind = 6 and (@prefix >= x.old_lfn || '/' and @prefix < x.old_lfn || '0')), false) as hit) h
            ) c on true
            order by c.xid, c.id
            """;
        await using var cmd = new NpgsqlCommand(sql, conn);
        cmd.Parameters.AddWithValue("xid", after.Xid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        cmd.Parameters.AddWithValue("id", after.Id);
        cmd.Parameters.AddWithValue("scan", scan);
        cmd.Parameters.AddWithValue("prefix", prefix);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var rows = new List<ChangeRow>();
        var last = after;
        ulong xmin = 0;
        var scanned = 0;
        while (await reader.ReadAsync(ct))
        {
            xmin = ulong.Parse(reader.GetString(0), System.Globalization.CultureInfo.InvariantCulture);
            if (reader.IsDBNull(1)) break; // nothing after the cursor
            scanned++;
            var position = new Position(ulong.Parse(reader.GetString(1), System.Globalization.CultureInfo.InvariantCulture), reader.GetInt64(2));
            if (reader.GetBoolean(3))
            {
                rows.Add(new ChangeRow(reader.GetInt16(4), reader.GetDateTime(5), reader.GetString(6),
                    reader.IsDBNull(7) ? null : reader.GetString(7), reader.IsDBNull(8) ? null : reader.GetString(8),
                    reader.IsDBNull(9) ? null : reader.GetInt16(9), reader.IsDBNull(10) ? null : reader.GetInt16(10),
                    reader.IsDBNull(11) ? null : reader.GetGuid(11), reader.IsDBNull(12) ? null : reader.GetInt64(12),
                    reader.IsDBNull(13) ? null : reader.GetInt32(13)));
            }
            last = position;
            if (rows.Count == limit) return (rows, last);
        }
        // The scan reached the end of what is complete: read on from the head.
        if (scanned < scan && xmin > 0) last = Position.Max(last, Below(xmin));
        return (rows, last);
    }

    /// <summary>The head: every transaction older than the oldest one running is complete, so nothing new can appear below it.</summary>
    public static async Task<Position> HeadAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        var xmin = await conn.ExecuteScalarAsync<string>(new CommandDefinition("select pg_snapshot_xmin(pg_current_snapshot())::text", cancellationToken: ct));
        return Below(ulong.Parse(xmin!, System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>The position after every row of transactions older than <paramref name="xmin"/>.</summary>
    private static Position Below(ulong xmin) => new(xmin - 1, long.MaxValue);

    /// <summary>How far retention has deleted (nothing at or before it can be read any more), or null.</summary>
    public static async Task<Position?> HorizonAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        var row = await conn.QuerySingleOrDefaultAsync<(string Xid, long Id)?>(new CommandDefinition(
            "select xid::text, id from change_horizon", cancellationToken: ct));
        return row is { } r ? new Position(ulong.Parse(r.Xid, System.Globalization.CultureInfo.InvariantCulture), r.Id) : null;
    }

    /// <summary>
    /// Deletes up to <paramref name="batch"/> of the oldest rows written before <paramref name="before"/>
    /// and moves the horizon to the last of them, in one transaction; answers how many went.
    /// </summary>
    public static async Task<int> PurgeAsync(NpgsqlConnection conn, DateTime before, int batch, CancellationToken ct)
    {
        const string sql = """
            with doomed as (
                select xid, id from change where at < @before order by xid, id limit @batch
            ), gone as (
                delete from change c using doomed d where c.xid = d.xid and c.id = d.id returning c.xid, c.id
            ), last as (
                select xid, id from gone order by xid desc, id desc limit 1
            ), moved as (
                insert into change_horizon (xid, id, at)
                select xid, id, now() from last
                on conflict (one) do update set xid = excluded.xid, id = excluded.id, at = excluded.at
                where (change_horizon.xid, change_horizon.id) < (excluded.xid, excluded.id)
            )
            select count(*)::int from gone
            """;
        return await conn.ExecuteScalarAsync<int>(new CommandDefinition(sql, new { before, batch }, cancellationToken: ct));
    }
}
