using Catalog.Client;
using Catalog.Contracts;
using Catalog.Grid;
using Catalog.Modules;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Catalog.Transfer.Queue;

/// <summary>
/// Runs the queue: picks due requests, chooses a source among the file's usable replicas (links
/// that failed lately rank down), and copies within each link's concurrency. One copy is
/// <list type="number">
/// <item>claimed (the request goes active and the attempt is written, in one transaction);</item>
/// <item>announced to the catalog as a replica <c>being_copied</c> at the destination;</item>
/// <item>copied by the destination SE itself (<c>xrdcp --tpc only</c>), unless a verified copy is already there;</item>
/// <item>verified: the destination's Adler-32 must equal the catalog's, or the copy is deleted and the attempt fails;</item>
/// <item>registered <c>available</c>, then the request is done and its locks OK.</item>
/// </list>
/// A request is only ever active in one place: this service holds the queue's advisory lock while
/// it runs, and at start it settles every request an earlier run left active before taking new
/// ones, waiting first for any copy that run left behind (a killed service's xrdcp goes on) and
/// then accepting a complete, verified destination copy instead of copying again.
/// </summary>
public sealed class Conveyor(NpgsqlDataSource db, CatalogClient catalog, LinkOptimizer optimizer, Faults faults,
    IOptions<TransferOptions> options, ILogger<Conveyor> log) : BackgroundService
{
    private const long QueueLockId = 0x7175657565; // "queue"
    private TransferOptions O => options.Value;
    private readonly List<Task> running = [];
    private readonly SemaphoreSlim wake = new(0);
    private Dictionary<string, StorageElement> ses = new(StringComparer.Ordinal);

    /// <summary>Copies running now.</summary>
    public int Running { get { lock (running) return running.Count; } }

    /// <summary>Asks the dispatcher to look at the queue now (a rule was added).</summary>
    public void Wake() => wake.Release();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The queue has one owner: a second service on the same database waits here.
        await using var owner = await db.OpenConnectionAsync(stoppingToken);
        while (!await TryLockAsync(owner, stoppingToken))
        {
            log.LogWarning("Another transfer service holds the queue; waiting");
            await Task.Delay(TimeSpan.FromSeconds(5), stoppingToken);
        }
        await optimizer.LoadAsync(stoppingToken);
        await SettleLeftoversAsync(stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await DispatchAsync(stoppingToken);
            }
            catch (Exception e) when (e is NpgsqlException or HttpRequestException or TimeoutException or CatalogClientException)
            {
                log.LogWarning(e, "Dispatching failed; trying again");
            }
            // Until woken (a rule was added), a copy finished, or the poll interval passed. The wake-up wait is
            // canceled with the round, so no waiter piles up on the semaphore while the service idles.
            using var round = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            var waits = new List<Task> { wake.WaitAsync(round.Token), Task.Delay(O.PollInterval, round.Token) };
            lock (running) waits.AddRange(running);
            await Task.WhenAny(waits);
            round.Cancel();
        }
    }

    private static async Task<bool> TryLockAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand($"select pg_try_advisory_lock({QueueLockId})", conn);
        return (bool)(await cmd.ExecuteScalarAsync(ct))!;
    }

    private async Task DispatchAsync(CancellationToken ct)
    {
        lock (running) running.RemoveAll(t => t.IsCompleted);
        await using var conn = await db.OpenConnectionAsync(ct);
        await TransferStore.RetryStuckAsync(conn, ct);
        var free = O.MaxActive - Running;
        if (free <= 0) return;
        var ready = await TransferStore.ReadyAsync(conn, free * 4, ct);
        if (ready.Count == 0) return;
        ses = (await catalog.ListStorageElementsAsync(ct)).ToDictionary(s => s.Name, StringComparer.Ordinal);
        var replicas = new Dictionary<string, IReadOnlyList<Replica>>(StringComparer.Ordinal);
        await foreach (var r in catalog.LookupAsync(ready.Select(t => t.Lfn).Distinct(), all: true, ct))
            if (r.Lfn is not null) replicas[r.Lfn] = r.Replicas ?? [];

        var claimed = new List<(ActiveTransfer Transfer, string From, string To)>();
        foreach (var t in ready)
        {
            if (Running + claimed.Count >= O.MaxActive) break;
            var all = replicas.GetValueOrDefault(t.Lfn) ?? [];
            if (all.Any(r => r.Se == t.Destination && r.State == ReplicaState.Available))
            {
                await TransferStore.AlreadyThereAsync(conn, t.Id, ct);
                continue;
            }
            if (!ses.TryGetValue(t.Destination, out var destination))
            {
                await TransferStore.NoSourceAsync(conn, t.Id, $"the destination SE {t.Destination} is no longer registered", DateTime.UtcNow + O.StuckRetry, ct);
                continue;
            }
            if (!destination.WriteEnabled)
            {
                // Banned by the monitor, draining for a downtime, or closed by an operator: no copy starts
                // (the catalog would refuse it); tried again in a minute, when it may take writes again.
                await TransferStore.NoSourceAsync(conn, t.Id, $"the destination SE {t.Destination} takes no writes now (banned, in downtime, or closed)",
                    DateTime.UtcNow + TimeSpan.FromMinutes(1), ct);
                continue;
            }
            var usable = all.Where(r => r.Se != t.Destination && r.State == ReplicaState.Available
                && ses.TryGetValue(r.Se, out var s) && s.ReadEnabled).ToList();
            if (usable.Count == 0)
            {
                var seen = all.Count == 0 ? "the catalog lists no replica" : "replicas: " + string.Join(", ", all.Select(r => $"{r.Se} {CatalogJson.Name(r.State)}"));
                await TransferStore.NoSourceAsync(conn, t.Id, $"no available source replica ({seen})", DateTime.UtcNow + O.StuckRetry, ct);
                continue;
            }
            // Sources in rank order; the first whose link has a free slot takes it (a full link waits, others go on).
            // An SE the monitor found failing (degraded or offline in the registry) is a source of last resort.
            var source = usable.OrderBy(r => ses[r.Se].State == StorageElementState.Online ? 0 : 1).ThenBy(r => optimizer.Rank(r.Se, t.Destination))
                .ThenBy(r => r.Se, StringComparer.Ordinal)
                .FirstOrDefault(r => optimizer.TryAcquire(r.Se, t.Destination));
            if (source is null) continue;
            if (!await TransferStore.ClaimAsync(conn, t, source.Se, ct))
            {
                optimizer.Return(source.Se, t.Destination);
                continue;
            }
            faults.At(FaultPoints.AfterClaim);
            claimed.Add((new ActiveTransfer(t.Id, t.FileId, t.Lfn, t.Size, t.Adler32, source.Se, t.Destination, (short)(t.Attempts + 1), t.Tries + 1),
                Xrootd.Absolute(source.Pfn), Xrootd.Absolute(Xrootd.Pfn(destination.BaseUrl, t.Lfn))));
        }
        if (claimed.Count == 0) return;

        // The round's copies are announced to the catalog in one call (being_copied at the destination).
        IReadOnlyList<ReplicaResult> announced;
        try { announced = (await catalog.AddReplicasAsync(claimed.Select(c => new ReplicaRef(c.Transfer.Lfn, c.Transfer.Destination, State: ReplicaState.BeingCopied)), ct)).Results; }
        catch (Exception e) when (e is HttpRequestException or TimeoutException or CatalogClientException)
        {
            announced = claimed.Select((c, i) => new ReplicaResult(i, c.Transfer.Lfn, c.Transfer.Destination, ReplicaOutcome.Failed,
                new ItemError(ErrorCode.Overloaded, $"the catalog did not answer: {e.Message}"))).ToList();
        }
        var byIndex = announced.ToDictionary(r => r.Index);
        for (var i = 0; i < claimed.Count; i++)
        {
            var (active, from, to) = claimed[i];
            var refusal = byIndex[i].Error is { } error ? $"the catalog refused a replica on {active.Destination}: {error.Message}" : null;
            var copy = Task.Run(() => CopyAsync(active, from, to, refusal, ct), CancellationToken.None);
            lock (running) running.Add(copy);
        }
    }

    private async Task CopyAsync(ActiveTransfer t, string sourcePfn, string destinationPfn, string? refusal, CancellationToken stopping)
    {
        var started = DateTime.UtcNow;
        var (ok, reasonClass, reason, note) = (false, "destination", refusal ?? "", (string?)null);
        try
        {
            if (refusal is null) (ok, reasonClass, reason, note) = await AttemptAsync(t, sourcePfn, destinationPfn, stopping);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Stopping: the request stays active and the next start settles it.
            optimizer.Return(t.Source, t.Destination);
            return;
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutException or CatalogClientException)
        {
            (reasonClass, reason) = ("catalog", $"the catalog did not take the replica: {e.Message}");
        }
        optimizer.Release(t.Source, t.Destination, ok, ok ? t.Size : 0);
        try
        {
            await using var conn = await db.OpenConnectionAsync(CancellationToken.None);
            if (ok)
            {
                await TransferStore.DoneAsync(conn, t.Id, t.Try, note, CancellationToken.None);
                log.LogInformation("Copied {Lfn} {Source} -> {Destination} in {Seconds:0.0} s", t.Lfn, t.Source, t.Destination, (DateTime.UtcNow - started).TotalSeconds);
            }
            else
            {
                var stuck = t.Attempts >= O.MaxAttempts;
                if (stuck) await ForgetBeingCopiedAsync(t);
                var backoff = TimeSpan.FromTicks(Math.Min(O.MaxBackoff.Ticks, O.Backoff.Ticks << Math.Min(20, t.Attempts - 1)));
                await TransferStore.FailedAsync(conn, t.Id, t.Try, reasonClass, reason, stuck,
                    DateTime.UtcNow + (stuck ? O.StuckRetry : backoff), CancellationToken.None);
                log.LogWarning("Attempt {Attempt} of {Lfn} {Source} -> {Destination} failed ({Class}): {Reason}{Stuck}",
                    t.Attempts, t.Lfn, t.Source, t.Destination, reasonClass, reason, stuck ? "; stuck until the next retry" : "");
            }
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            // The request stays active; the next start settles it from what the destination holds.
            log.LogError(e, "Could not record the end of transfer {Id}", t.Id);
        }
    }

    private async Task<(bool Ok, string Class, string Reason, string? Note)> AttemptAsync(ActiveTransfer t, string sourcePfn, string destinationPfn, CancellationToken ct)
    {
        string? note = null;
        // A first attempt finds nothing of its own there: the check is for what an earlier attempt left
        // (a dark file in the way makes the copy fail, and the retry finds it).
        var there = t.Attempts > 1 ? await Xrootd.ChecksumAsync(destinationPfn, ct) : null;
        if (there == t.Adler32) note = "a verified copy was already at the destination";
        else
        {
            if (there is not null) await Xrootd.RemoveAsync(destinationPfn, ct); // a partial or wrong copy of an earlier attempt
            if (O.Fault == FaultPoints.DuringCopy) _ = Task.Delay(300, CancellationToken.None).ContinueWith(_ => faults.At(FaultPoints.DuringCopy), TaskScheduler.Default);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(O.CopyTimeout);
            (bool Ok, string Error) copy;
            try { copy = await Xrootd.ThirdPartyCopyAsync(sourcePfn, destinationPfn, timeout.Token, O.CopyCommand); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                await Xrootd.RemoveAsync(destinationPfn, CancellationToken.None);
                return (false, "timeout", $"the copy took longer than {O.CopyTimeout}", null);
            }
            faults.At(FaultPoints.AfterCopy);
            if (!copy.Ok) return (false, Classify(copy.Error, sourcePfn, destinationPfn), Shorten(copy.Error), null);
            there = await Xrootd.ChecksumAsync(destinationPfn, ct);
            if (there != t.Adler32)
            {
                await Xrootd.RemoveAsync(destinationPfn, ct);
                return (false, "checksum", $"checksum mismatch: the catalog says adler32 {t.Adler32}, the copy on {t.Destination} has {there ?? "none"}; the copy was deleted", null);
            }
        }
        var registered = await catalog.SetReplicaStateAsync([new ReplicaRef(t.Lfn, t.Destination, State: ReplicaState.Available)], ct);
        if (registered.Results[0].Error is { } error) return (false, "catalog", $"the catalog did not make the replica available: {error.Message}", null);
        faults.At(FaultPoints.AfterRegister);
        return (true, "", "", note);
    }

    /// <summary>A request that gave up leaves no <c>being_copied</c> entry behind in the catalog.</summary>
    private async Task ForgetBeingCopiedAsync(ActiveTransfer t)
    {
        try
        {
            var current = await catalog.ListReplicasAsync(t.Lfn, all: true);
            if (current.Any(r => r.Se == t.Destination && r.State == ReplicaState.BeingCopied))
                await catalog.RemoveReplicasAsync([new ReplicaRef(t.Lfn, t.Destination)]);
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutException or CatalogClientException)
        {
            log.LogWarning(e, "Could not remove the being-copied replica of {Lfn} on {Se}", t.Lfn, t.Destination);
        }
    }

    /// <summary>Which side failed, from xrdcp's words: the SE named in the error, or the kind of error.</summary>
    public static string Classify(string error, string sourcePfn, string destinationPfn)
    {
        var sourceHost = new Uri(sourcePfn).Authority;
        var destinationHost = new Uri(destinationPfn).Authority;
        if (error.Contains("checksum", StringComparison.OrdinalIgnoreCase)) return "checksum";
        if (error.Contains(destinationHost, StringComparison.Ordinal) && !error.Contains(sourceHost, StringComparison.Ordinal)) return "destination";
        if (error.Contains(sourceHost, StringComparison.Ordinal) && !error.Contains(destinationHost, StringComparison.Ordinal)) return "source";
        if (error.Contains("No such file", StringComparison.OrdinalIgnoreCase)) return "source";
        if (error.Contains("timed out", StringComparison.OrdinalIgnoreCase) || error.Contains("timeout", StringComparison.OrdinalIgnoreCase)) return "timeout";
        if (error.Contains("Connection refused", StringComparison.OrdinalIgnoreCase) || error.Contains("connect", StringComparison.OrdinalIgnoreCase)) return "connection";
        return "copy";
    }

    /// <summary>The tool's error line, printable and short (xrdcp's output can carry NUL bytes, which PostgreSQL refuses in text).</summary>
    private static string Shorten(string error)
    {
        var clean = new string(error.Select(c => char.IsControl(c) && c != '\n' ? ' ' : c).ToArray());
        var line = clean.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault(l => l.Contains("ERROR", StringComparison.Ordinal))
            ?? clean.Trim();
        return line.Length > 500 ? line[..500] : line;
    }

    /// <summary>
    /// Requests an earlier run left active: wait until no copy of it still runs on this host, then
    /// take a complete, verified destination copy as the result (registering it), or delete what
    /// is there and queue the request again. Nothing is copied twice.
    /// </summary>
    private async Task SettleLeftoversAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var left = await TransferStore.ActiveAsync(conn, ct);
        if (left.Count == 0) return;
        ses = (await catalog.ListStorageElementsAsync(ct)).ToDictionary(s => s.Name, StringComparer.Ordinal);
        log.LogInformation("Settling {Count} transfers an earlier run left active", left.Count);
        foreach (var t in left)
        {
            if (!ses.TryGetValue(t.Destination, out var destination))
            {
                await TransferStore.FailedAsync(conn, t.Id, t.Try, "interrupted", "interrupted; the destination SE is no longer registered", true, DateTime.UtcNow + O.StuckRetry, ct);
                continue;
            }
            var pfn = Xrootd.Absolute(Xrootd.Pfn(destination.BaseUrl, t.Lfn));
            var waited = await Orphans.WaitForNoneAsync(pfn, O.CopyTimeout, ct);
            var there = await Xrootd.ChecksumAsync(pfn, ct);
            if (there == t.Adler32)
            {
                var registered = await catalog.SetReplicaStateAsync([new ReplicaRef(t.Lfn, t.Destination, State: ReplicaState.Available)], ct);
                if (registered.Results[0].Error is null)
                {
                    await TransferStore.DoneAsync(conn, t.Id, t.Try, waited
                        ? "completed by a copy that outlived an earlier run of the service; verified, not copied again"
                        : "completed before an earlier run of the service stopped; verified, not copied again", ct);
                    continue;
                }
            }
            if (there is not null) await Xrootd.RemoveAsync(pfn, ct);
            await TransferStore.FailedAsync(conn, t.Id, t.Try, "interrupted", "interrupted by a stop of the transfer service before the copy was complete",
                t.Attempts >= O.MaxAttempts, DateTime.UtcNow, ct);
        }
    }
}

/// <summary>Copies a killed service left running on this host (its xrdcp processes go on without it).</summary>
public static class Orphans
{
    /// <summary>Waits until no process on this host has <paramref name="pfn"/> on its command line; true when it had to wait.</summary>
    public static async Task<bool> WaitForNoneAsync(string pfn, TimeSpan limit, CancellationToken ct)
    {
        var waited = false;
        var until = DateTime.UtcNow + limit;
        while (Running(pfn) && DateTime.UtcNow < until)
        {
            waited = true;
            await Task.Delay(200, ct);
        }
        return waited;
    }

    private static bool Running(string pfn)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId) continue;
            try
            {
                var args = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                if (args.Contains(pfn, StringComparer.Ordinal)) return true;
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return false;
    }
}
