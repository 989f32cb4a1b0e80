using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Catalog.Api.Security;
using Catalog.Storage;
using Npgsql;

namespace Catalog.Api.Audit;

/// <summary>One audited write on one item, as queued.</summary>
public sealed record AuditEvent(DateTimeOffset At, string Subject, Guid? TokenId, string? Remote, string? RequestId,
    string Action, string? Path, string Outcome, string? Detail);

/// <summary>
/// The audit trail, kept out of the hot path: a write request only appends its events to a
/// bounded in-memory queue after its transaction committed; a background writer drains the
/// queue into <c>audit_event</c> with binary COPY, in batches of up to 10,000 or every 200 ms.
/// When the queue is full (the database is down or slower than the writes) requests wait for
/// room rather than drop events, so the queue bounds memory at <see cref="Capacity"/> events.
/// Events still queued when the process is killed are lost (at most about 200 ms worth under
/// steady load); a graceful stop drains the queue first.
/// </summary>
public sealed class AuditLog
{
    public const int Capacity = 200_000;

    private readonly Channel<AuditEvent> _queue = Channel.CreateBounded<AuditEvent>(new BoundedChannelOptions(Capacity)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    internal ChannelReader<AuditEvent> Reader => _queue.Reader;

    public ValueTask RecordAsync(Caller caller, string action, string? path, string outcome, Dictionary<string, string?>? detail = null) =>
        EnqueueAsync(new AuditEvent(DateTimeOffset.UtcNow, caller.Subject, caller.TokenId, caller.Remote, caller.RequestId, action, path, outcome,
            detail is null ? null : JsonSerializer.Serialize(detail)));

    /// <summary>Queues events for many items of one request.</summary>
    public async ValueTask RecordManyAsync(Caller caller, string action, IEnumerable<(string? Path, string Outcome, JsonObject? Detail)> items)
    {
        var at = DateTimeOffset.UtcNow;
        foreach (var (path, outcome, detail) in items)
            await EnqueueAsync(new AuditEvent(at, caller.Subject, caller.TokenId, caller.Remote, caller.RequestId, action, path, outcome, detail?.ToJsonString()));
    }

    /// <summary>Queues an event; when the queue is full, waits for room (back-pressure) instead of losing it.</summary>
    private ValueTask EnqueueAsync(AuditEvent e) =>
        _queue.Writer.TryWrite(e) ? ValueTask.CompletedTask : _queue.Writer.WriteAsync(e);

    internal void Complete() => _queue.Writer.TryComplete();

    /// <summary>Drains the queue into PostgreSQL.</summary>
    public sealed class Writer(AuditLog log, NpgsqlDataSource db, ILogger<Writer> logger) : BackgroundService
    {
        private const int BatchSize = 10_000;

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            var batch = new List<AuditEvent>(BatchSize);
            try
            {
                while (await log.Reader.WaitToReadAsync(stoppingToken))
                {
                    await Task.Delay(200, stoppingToken);
                    while (batch.Count < BatchSize && log.Reader.TryRead(out var e)) batch.Add(e);
                    await WriteAsync(batch, stoppingToken);
                    batch.Clear();
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
            // Graceful stop: whatever is queued still goes in.
            while (log.Reader.TryRead(out var e)) batch.Add(e);
            if (batch.Count > 0) await WriteAsync(batch, CancellationToken.None);
        }

        private async Task WriteAsync(List<AuditEvent> batch, CancellationToken ct)
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await AuditStore.CopyAsync(db, batch.Select(e => new AuditRow(e.At, e.Subject, e.TokenId, e.Remote, e.RequestId,
                        e.Action, e.Path, e.Outcome, e.Detail)).ToList(), ct);
                    return;
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException && !ct.IsCancellationRequested)
                {
                    logger.LogWarning(e, "Could not write {Count} audit events (attempt {Attempt}); retrying", batch.Count, attempt);
                    await Task.Delay(TimeSpan.FromSeconds(Math.Min(30, attempt)), ct);
                }
            }
        }
    }
}
