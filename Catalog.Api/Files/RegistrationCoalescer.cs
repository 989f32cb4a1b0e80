using System.Threading.Channels;
using Catalog.Api.Errors;
using Catalog.Contracts;
using Microsoft.Extensions.Options;
using static Catalog.Api.Files.RegistrationWriter;

namespace Catalog.Api.Files;

/// <summary>
/// Concurrent small registrations (one job, one file) share a transaction, and so one commit
/// and one lock of each dataset, instead of each paying its own. Requests are queued on a lane
/// chosen by their dataset (or directory), so lanes never contend for the same dataset row; each
/// lane takes what is waiting (up to <see cref="RegistrationOptions.MaxRequestsPerTransaction"/>)
/// and hands it to the writer it was built with (<see cref="RegistrationWriter.WriteManyAsync"/>),
/// which answers each request as if it ran alone: one request's refusal (a reused idempotency
/// key, a permission) refuses only that request. A request is answered only after the shared
/// transaction committed (synchronous commit stays on). Full lanes answer 503 with Retry-After:
/// the queue is bounded. A hosted service: on shutdown it stops taking requests and drains what
/// is queued before the host stops.
/// </summary>
public sealed class RegistrationCoalescer : BackgroundService
{
    private sealed record Pending(Work Work)
    {
        public TaskCompletionSource<RegisterResponse> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private readonly Func<IReadOnlyList<Work>, CancellationToken, Task<Outcome[]>> write;
    private readonly RegistrationOptions options;
    private readonly Channel<Pending>[] lanes;

    public RegistrationCoalescer(Func<IReadOnlyList<Work>, CancellationToken, Task<Outcome[]>> write, IOptions<RegistrationOptions> options)
    {
        (this.write, this.options) = (write, options.Value);
        lanes = Enumerable.Range(0, this.options.Lanes).Select(_ => Channel.CreateBounded<Pending>(new BoundedChannelOptions(this.options.QueuePerLane)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        })).ToArray();
    }

    public Task<RegisterResponse> SubmitAsync(Work work, CancellationToken ct)
    {
        var pending = new Pending(work);
        var lane = lanes[(int)((uint)StringComparer.Ordinal.GetHashCode(work.Partition) % (uint)lanes.Length)];
        if (!lane.Writer.TryWrite(pending))
            throw new CatalogException(ErrorCode.Overloaded, "the registration queue is full; retry after the advertised delay");
        return pending.Done.Task.WaitAsync(ct);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Stopping closes the lanes; each lane still drains what it holds, so no accepted request is left unanswered.
        stoppingToken.Register(() => { foreach (var lane in lanes) lane.Writer.TryComplete(); });
        return Task.WhenAll(lanes.Select(RunAsync));
    }

    private async Task RunAsync(Channel<Pending> lane)
    {
        var batch = new List<Pending>(options.MaxRequestsPerTransaction);
        while (await lane.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < options.MaxRequestsPerTransaction && lane.Reader.TryRead(out var pending)) batch.Add(pending);
            try
            {
                Answer(batch, await write(batch.Select(p => p.Work).ToList(), CancellationToken.None));
            }
            catch (Exception e) when (batch.Count > 1 && !IsTransient(e))
            {
                // One request's data failed the shared transaction (nothing of it is stored): each request
                // runs again alone, so only the one at fault hears of it and no caller pays for another's input.
                foreach (var pending in batch)
                {
                    try { Answer([pending], await write([pending.Work], CancellationToken.None)); }
                    catch (Exception alone) { pending.Done.TrySetException(alone); }
                }
            }
            catch (Exception e)
            {
                // The database is away, or the cache could not be told after the commit: every request hears
                // so and may retry under its key (a retry replays a stored answer).
                foreach (var pending in batch) pending.Done.TrySetException(e);
            }
        }
    }

    private static void Answer(List<Pending> batch, Outcome[] outcomes)
    {
        for (var i = 0; i < batch.Count; i++)
        {
            if (outcomes[i].Error is { } error) batch[i].Done.TrySetException(error);
            else batch[i].Done.TrySetResult(outcomes[i].Response!);
        }
    }

    /// <summary>Failures of the moment (connection, shutdown, overload), not of the requests' data: running alone would not help.</summary>
    private static bool IsTransient(Exception e) =>
        e is Npgsql.NpgsqlException { IsTransient: true } || Errors.ErrorMapping.IsOverload(e) || e is StackExchange.Redis.RedisException or TimeoutException;
}
