using Catalog.Api.Replicas;
using Catalog.Contracts;
using GraphQL.DataLoader;

namespace Catalog.Api.GraphQL;

/// <summary>
/// Batches the replicas of all files a query touches into one bulk lookup (GraphQL.DataLoader is
/// not on this machine's package mirror; GraphQL.NET's executor already defers
/// <see cref="IDataLoaderResult"/>s until a level is collected, so this is all a loader needs).
/// One instance per request.
/// </summary>
public sealed class ReplicaBatch(ReplicaService service, Security.Caller caller)
{
    private readonly Lock _gate = new();
    private readonly HashSet<string> _pending = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IReadOnlyList<Replica>> _loaded = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _dispatch = new(1, 1);

    public int Dispatches { get; private set; }

    public IDataLoaderResult<IReadOnlyList<Replica>> Load(string lfn)
    {
        lock (_gate) if (!_loaded.ContainsKey(lfn)) _pending.Add(lfn);
        return new Result(this, lfn);
    }

    private async Task<IReadOnlyList<Replica>> GetAsync(string lfn, CancellationToken ct)
    {
        await _dispatch.WaitAsync(ct);
        try
        {
            List<string?> batch;
            lock (_gate)
            {
                if (_loaded.TryGetValue(lfn, out var done)) return done;
                batch = [.. _pending];
                _pending.Clear();
            }
            Dispatches++;
            var answers = new Dictionary<string, IReadOnlyList<Replica>>(StringComparer.Ordinal);
            await foreach (var r in service.Lookup(new LookupRequest(batch), caller, ct))
                if (r.Lfn is not null) answers[r.Lfn] = r.Replicas ?? [];
            lock (_gate)
            {
                foreach (var key in batch) _loaded[key!] = answers.GetValueOrDefault(key!) ?? [];
                return _loaded[lfn];
            }
        }
        finally
        {
            _dispatch.Release();
        }
    }

    private sealed class Result(ReplicaBatch batch, string lfn) : IDataLoaderResult<IReadOnlyList<Replica>>
    {
        public Task<IReadOnlyList<Replica>> GetResultAsync(CancellationToken ct = default) => batch.GetAsync(lfn, ct);
        async Task<object?> IDataLoaderResult.GetResultAsync(CancellationToken ct) => await GetResultAsync(ct);
    }
}
