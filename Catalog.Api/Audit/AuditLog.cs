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

    public const string MeterName = "Catalog.Audit";

    /// <summary>
    /// What a crash would lose is in view: the events waiting for the writer (<c>catalog_audit_queued</c>)
    /// and those the database refused and were set aside (<c>catalog_audit_quarantined_total</c>).
    /// </summary>
    private readonly System.Diagnostics.Metrics.Meter _meter = new(MeterName);

    public AuditLog()
    {
        _meter.CreateObservableGauge("queued", () => _queue.Reader.Count, description: "Audit events waiting to be written (lost if the process is killed)");
        _meter.CreateObservableCounter("quarantined", () => Interlocked.Read(ref Quarantined), description: "Audit events the database refused, logged and set aside");
    }

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

    /// <summary>
    /// Queues an event, its text made safe first (<see cref="Escape"/>); when the queue is full,
    /// waits for room (back-pressure) instead of losing it.
    /// </summary>
    private ValueTask EnqueueAsync(AuditEvent e)
    {
        e = e with
        {
            Subject = Escape(e.Subject)!, Remote = Escape(e.Remote), RequestId = Escape(e.RequestId), Action = Escape(e.Action)!,
            Path = Escape(e.Path), Outcome = Escape(e.Outcome)!, Detail = EscapeJson(e.Detail),
        };
        return _queue.Writer.TryWrite(e) ? ValueTask.CompletedTask : _queue.Writer.WriteAsync(e);
    }

    /// <summary>
    /// What a client sent, as text the audit table can always hold: control characters (NUL among
    /// them, which PostgreSQL cannot store, and which once stopped the audit writer for good) and
    /// unpaired surrogates written as the six characters <c>\uXXXX</c>.
    /// </summary>
    internal static string? Escape(string? text)
    {
        if (text is null || !text.AsSpan().ContainsAny(Unsafe) && !HasLoneSurrogate(text)) return text;
        var sb = new System.Text.StringBuilder(text.Length + 16);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var paired = char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]);
            if (paired) { sb.Append(c).Append(text[++i]); continue; }
            if (char.IsControl(c) || char.IsSurrogate(c)) sb.Append($"\\u{(int)c:X4}");
            else sb.Append(c);
        }
        return sb.ToString();
    }

    private static readonly System.Buffers.SearchValues<char> Unsafe = System.Buffers.SearchValues.Create(
        [.. Enumerable.Range(0, 0x20).Select(i => (char)i), (char)0x7f, .. Enumerable.Range(0x80, 0x20).Select(i => (char)i)]);

    /// <summary>A JSON detail whose strings may hold an escaped NUL (<c>\u0000</c>), which jsonb refuses: re-written with every string made safe by <see cref="Escape"/>.</summary>
    internal static string? EscapeJson(string? json)
    {
        if (json is null || !json.Contains("\\u0000", StringComparison.OrdinalIgnoreCase)) return json;
        static JsonNode? Clean(JsonNode? node) => node switch
        {
            JsonObject o => new JsonObject(o.Select(kv => KeyValuePair.Create(Escape(kv.Key)!, Clean(kv.Value)))),
            JsonArray a => new JsonArray(a.Select(Clean).ToArray()),
            JsonValue v when v.TryGetValue<string>(out var text) => JsonValue.Create(Escape(text)),
            _ => node?.DeepClone(),
        };
        return Clean(JsonNode.Parse(json))!.ToJsonString();
    }

    private static bool HasLoneSurrogate(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { i++; continue; }
            if (char.IsSurrogate(text[i])) return true;
        }
        return false;
    }

    /// <summary>Events the database refused one by one (after splitting their batch): logged and counted, never retried forever.</summary>
    internal static long Quarantined;

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

        /// <summary>
        /// Writes a batch. While the database is away it waits and tries again (the queue holds the
        /// events and pushes back on writers). A batch the database refuses for its content is split
        /// in halves until the refused event stands alone; that one is logged, counted and dropped,
        /// so one bad event can never stop the audit trail.
        /// </summary>
        internal async Task WriteAsync(IReadOnlyList<AuditEvent> batch, CancellationToken ct)
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await AuditStore.CopyAsync(db, batch.Select(e => new AuditRow(e.At, e.Subject, e.TokenId, e.Remote, e.RequestId,
                        e.Action, e.Path, e.Outcome, e.Detail)).ToList(), ct);
                    return;
                }
                catch (PostgresException e) when (!e.IsTransient)
                {
                    if (batch.Count == 1)
                    {
                        Interlocked.Increment(ref Quarantined);
                        logger.LogError(e, "Audit event refused by the database and dropped: {Action} {Path} by {Subject}", batch[0].Action, batch[0].Path, batch[0].Subject);
                        return;
                    }
                    var half = batch.Count / 2;
                    await WriteAsync(batch.Take(half).ToList(), ct);
                    await WriteAsync(batch.Skip(half).ToList(), ct);
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
