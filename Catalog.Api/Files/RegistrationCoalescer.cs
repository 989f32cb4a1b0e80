using System.Threading.Channels;
using Catalog.Api.Errors;
using Catalog.Api.Hosting;
using Catalog.Api.Security;
using Catalog.Contracts;

namespace Catalog.Api.Files;

/// <summary>
/// Concurrent small registrations (one job, one file) share a transaction, and so one commit
/// and one lock of each dataset, instead of each paying its own. Requests are queued on a lane
/// chosen by their dataset (or directory), so lanes never contend for the same dataset row; each
/// lane takes what is waiting (up to <see cref="RegistrationOptions.MaxRequestsPerTransaction"/>)
/// and runs it in one transaction, storing all their files with one set of statements; each
/// request keeps its own idempotency key, permission check and answers, and one request's
/// refusal (a reused idempotency key, a permission) refuses only that request. A request is
/// answered only after the shared transaction committed (synchronous commit stays on). Full
/// lanes answer 503 with Retry-After: the queue is bounded.
/// </summary>
public sealed class RegistrationCoalescer
{
    public sealed record Work(IReadOnlyList<NewFile?> Files, string? Key, byte[]? Hash, Caller Caller, string Partition)
    {
        public TaskCompletionSource<RegisterResponse> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private readonly RegistrationService service;
    private readonly Db db;
    private readonly RegistrationOptions options;
    private readonly Channel<Work>[] lanes;

    public RegistrationCoalescer(RegistrationService service, Db db, RegistrationOptions options)
    {
        (this.service, this.db, this.options) = (service, db, options);
        lanes = Enumerable.Range(0, options.Lanes).Select(_ => Channel.CreateBounded<Work>(new BoundedChannelOptions(options.QueuePerLane)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        })).ToArray();
        foreach (var lane in lanes) _ = Task.Run(() => RunAsync(lane));
    }

    public Task<RegisterResponse> SubmitAsync(Work work, CancellationToken ct)
    {
        var lane = lanes[(int)((uint)StringComparer.Ordinal.GetHashCode(work.Partition) % (uint)lanes.Length)];
        if (!lane.Writer.TryWrite(work))
            throw new CatalogException(ErrorCode.Overloaded, "the registration queue is full; retry after the advertised delay");
        return work.Done.Task.WaitAsync(ct);
    }

    private async Task RunAsync(Channel<Work> lane)
    {
        var batch = new List<Work>(options.MaxRequestsPerTransaction);
        while (await lane.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < options.MaxRequestsPerTransaction && lane.Reader.TryRead(out var work)) batch.Add(work);
            await RunBatchAsync(batch);
        }
    }

    private async Task RunBatchAsync(List<Work> batch)
    {
        try
        {
            var outcomes = await db.WriteAsync((conn, tx) => service.ProcessManyAsync(conn, tx, batch, CancellationToken.None), CancellationToken.None);
            // Committed: stale cache entries go before anyone is answered, once for the whole transaction.
            await service.InvalidateAsync(outcomes.Where(o => o.Response is not null).Select(o => o.Response!));
            for (var i = 0; i < batch.Count; i++)
            {
                if (outcomes[i].Error is { } error) batch[i].Done.TrySetException(error);
                else batch[i].Done.TrySetResult(outcomes[i].Response!);
            }
        }
        catch (Exception e)
        {
            // The shared transaction failed as a whole (nothing of it is stored), or the cache could not be
            // told after its commit: every request hears so and may retry under its key (a retry replays a stored answer).
            foreach (var work in batch) work.Done.TrySetException(e);
        }
    }
}
