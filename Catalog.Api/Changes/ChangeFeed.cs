using System.Globalization;
using Catalog.Api.Errors;
using Catalog.Api.Hosting;
using Catalog.Api.Http;
using Catalog.Api.Namespace;
using Catalog.Api.Security;
using Catalog.Api.StorageElements;
using Catalog.Contracts;
using Catalog.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Catalog.Api.Changes;

/// <summary>
/// GET /api/v1/changes: the catalog's changes in order, resumable by cursor, filtered by path
/// prefix, long-polled with <c>wait</c>. The feed shows every entry under the prefix whatever
/// the directory modes say, so it is for data managers (the transfer and monitoring services),
/// and their scope must cover the prefix.
/// </summary>
public sealed class ChangeFeed(Db db, Access access, IOptions<CatalogOptions> options)
{
    /// <summary>Most rows one poll looks at when a prefix passes most of them over.</summary>
    private const int ScanPerPoll = 20_000;
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    public async Task<ChangePage> ReadAsync(string? after, int? limit, string? prefix, double? wait, Caller caller, CancellationToken ct)
    {
        access.DemandRole(caller, Role.DataManager, "read the change feed");
        var path = string.IsNullOrEmpty(prefix) || prefix == "/" ? "/" : Lfn.Parse(prefix, options.Value.Roots, "prefix").Path;
        access.Demand(caller, Operation.Read, path, "prefix");
        var size = options.Value.PageSize(limit, 1000);
        if (wait is < 0 or > 60 || (wait is { } w && double.IsNaN(w))) throw CatalogException.Invalid("wait", "must be between 0 and 60 seconds");

        await using var conn = await db.OpenAsync(ct);
        var position = await StartAsync(conn, after, ct);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(wait ?? 0);
        while (true)
        {
            var (rows, next) = await ChangeStore.ReadAsync(conn, position, path == "/" ? "" : path, size, ScanPerPoll, ct);
            position = next;
            if (rows.Count == 0 && DateTime.UtcNow < deadline) { await Task.Delay(PollInterval, ct); continue; }
            if (rows.Count == 0) return new ChangePage([], Encode(position));
            // SE names as they are now, read after the rows (not before a long poll): a rename in this page is in it.
            var registry = await SeRegistry.ReadAsync(conn, null, ct);
            return new ChangePage(rows.Select(r => ToChange(r, registry)).ToList(), Encode(position));
        }
    }

    /// <summary>The position <paramref name="after"/> names: the start, the head (<c>latest</c>), or a cursor still within retention.</summary>
    private static async Task<ChangeStore.Position> StartAsync(NpgsqlConnection conn, string? after, CancellationToken ct)
    {
        if (after == "latest")
            return await ChangeStore.HeadAsync(conn, ct);
        var position = Decode(after);
        if (await ChangeStore.HorizonAsync(conn, ct) is { } horizon && position < horizon)
            throw new CatalogException(ErrorCode.ChangesExpired,
                "changes after this cursor were dropped by the feed's retention; list what you need afresh and follow from after=latest", "after");
        return position;
    }

    private static Change ToChange(ChangeStore.ChangeRow r, SeRegistry registry)
    {
        var kind = (ChangeKind)r.Kind;
        var renamed = kind == ChangeKind.StorageElementRenamed; // its old name is kept where moves keep the old LFN
        return new(kind, Mapping.Utc(r.At), r.Lfn, renamed ? null : r.OldLfn, r.Dataset,
            r.SeId is { } se ? registry.TryGet(se, out var row) ? row.Name : $"#{se}" : null,
            r.State is { } state ? (ReplicaState)state : null,
            r.Guid, r.Size, r.Adler32 is { } a ? Mapping.Adler32(a) : null, renamed ? r.OldLfn : null);
    }

    private static string Encode(ChangeStore.Position p) =>
        Cursor.Encode(string.Create(CultureInfo.InvariantCulture, $"{p.Xid}.{p.Id}"));

    private static ChangeStore.Position Decode(string? after)
    {
        var text = Cursor.Decode(after);
        if (text.Length == 0) return ChangeStore.Position.Start;
        var dot = text.IndexOf('.');
        if (dot < 0 || !ulong.TryParse(text.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out var xid)
            || !long.TryParse(text.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            throw CatalogException.Invalid("after", "is not a cursor from a previous page (or 'latest')");
        return new ChangeStore.Position(xid, id);
    }
}

/// <summary>Deletes changes older than <see cref="CatalogOptions.ChangeRetention"/>, oldest first, and moves the horizon.</summary>
public sealed class ChangeRetention(NpgsqlDataSource db, IOptions<CatalogOptions> options, ILogger<ChangeRetention> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var retention = options.Value.ChangeRetention;
        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(5));
        do
        {
            try
            {
                await using var conn = await db.OpenConnectionAsync(stoppingToken);
                int removed, total = 0;
                do total += removed = await ChangeStore.PurgeAsync(conn, DateTime.UtcNow - retention, 50_000, stoppingToken);
                while (removed == 50_000);
                if (total > 0) log.LogInformation("Dropped {Count} changes older than {Retention}", total, retention);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                log.LogWarning(e, "Could not drop old changes; trying again later");
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}

public static class ChangesApi
{
    public static IEndpointRouteBuilder MapChangesApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/changes", (string? after, int? limit, string? prefix, double? wait, ChangeFeed feed, Caller caller, CancellationToken ct) =>
                feed.ReadAsync(after, limit, prefix, wait, caller, ct))
            .WithTags("Changes").WithName("ReadChanges")
            .WithSummary("Read the change feed")
            .WithDescription("The catalog's changes in commit-safe order after a cursor ('latest' for the head), optionally under a path prefix; wait (seconds, up to 60) long-polls for the first change.")
            .ProducesProblem(400).ProducesProblem(403).ProducesProblem(410);
        return app;
    }
}
