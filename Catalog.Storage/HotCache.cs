using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Catalog.Contracts;
using Dapper;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace Catalog.Storage;

/// <summary>What a cached value is: each space is invalidated on its own.</summary>
public enum CacheSpace
{
    /// <summary>A file with its replicas, by LFN (stat and LFN -> replicas).</summary>
    File,
    /// <summary>A dataset summary, by dataset path.</summary>
    Dataset,
    /// <summary>The attribute schema in force, by directory path.</summary>
    Schema,
}

/// <summary>A cached value that holds other values (an entry with what its check needs): each is readied for sharing.</summary>
public interface ICacheComposite
{
    IEnumerable<object> Parts { get; }
}

/// <summary>
/// The Redis cache of hot reads, shared by every API process, with this guarantee: once a
/// write is acknowledged, no reader on any process gets the value from before it.
/// <para>
/// How. Every key has a generation marker in Redis; a write bumps the markers of what it
/// changed (and deletes the values) after its commit and before it is answered. A reader that
/// misses notes the markers (with the epoch and the space's generation) in the same round trip,
/// reads PostgreSQL, and stores the value only if nothing moved meanwhile (one Lua script, so the
/// check and the store are atomic). A value read from PostgreSQL before a commit can therefore never
/// be stored after that write's invalidation. Changes too broad to list (a directory moved, an SE's
/// URL changed) bump a whole space's generation.
/// </para>
/// <para>
/// When a writer cannot reach Redis it bumps the flush epoch in PostgreSQL before answering;
/// every process polls that epoch every <see cref="CacheOptions.FlushPoll"/> and pushes it into
/// Redis, where a new epoch hides every older value. So the bound is zero while the writer reaches
/// Redis, and <see cref="CacheOptions.FlushPoll"/> (1 s) in the one case where it cannot but a
/// reader can. While Redis is away reads go to PostgreSQL; caching resumes by itself.
/// </para>
/// <para>
/// A burst of misses on one key shares one PostgreSQL read per process (single flight), but only
/// among requests that saw the same markers: a request never shares a read that began before a
/// write it must see.
/// </para>
/// </summary>
public sealed class HotCache : IDisposable
{
    public const string MeterName = "Catalog.Cache";

    /// <summary>How long a generation marker outlives its last bump (far beyond any read in flight).</summary>
    private static readonly TimeSpan MarkerLifetime = TimeSpan.FromHours(1);

    // KEYS are built inside the scripts (one Redis, no cluster): cat:epoch, cat:ns:<space>,
    // cat:g:<space>:<key> (generation marker), cat:v:<epoch>:<space generation>:<space>:<key> (value).
    private const string Prologue = """
        local e = tonumber(redis.call('GET', 'cat:epoch') or '0')
        local m = tonumber(ARGV[1])
        if e < m then e = m; redis.call('SET', 'cat:epoch', e) end
        local n = redis.call('GET', 'cat:ns:' .. ARGV[2]) or '0'
        """;

    private const string ReadScript = Prologue + """
        local v = redis.call('GET', 'cat:v:' .. e .. ':' .. n .. ':' .. ARGV[2] .. ':' .. ARGV[3])
        if v then return {1, v} end
        local g = redis.call('GET', 'cat:g:' .. ARGV[2] .. ':' .. ARGV[3]) or '0'
        return {0, e .. '/' .. n .. '/' .. g}
        """;

    private const string StoreScript = Prologue + """
        local g = redis.call('GET', 'cat:g:' .. ARGV[2] .. ':' .. ARGV[3]) or '0'
        if e .. '/' .. n .. '/' .. g ~= ARGV[4] then return 0 end
        redis.call('SET', 'cat:v:' .. e .. ':' .. n .. ':' .. ARGV[2] .. ':' .. ARGV[3], ARGV[5], 'PX', ARGV[6])
        return 1
        """;

    // Both end by telling the first level of every process (LocalTier.PublishLua), in the same round trip.
    private const string InvalidateScript = Prologue + """
        for i = 5, #ARGV do
          local g = 'cat:g:' .. ARGV[2] .. ':' .. ARGV[i]
          redis.call('INCR', g)
          redis.call('PEXPIRE', g, ARGV[3])
          redis.call('DEL', 'cat:v:' .. e .. ':' .. n .. ':' .. ARGV[2] .. ':' .. ARGV[i])
        end
        local msg = ARGV[4] .. table.concat(ARGV, '\n', 5)
        """ + LocalTier.PublishLua;

    private const string InvalidateSpaceScript = Prologue + """
        redis.call('INCR', 'cat:ns:' .. ARGV[2])
        local msg = ARGV[3]
        """ + LocalTier.PublishLua;

    private static readonly TimeSpan FlightGrace = TimeSpan.FromMilliseconds(250);

    private sealed record Flight(string Token, Task<object?> Value);

    private readonly IConnectionMultiplexer redis;
    private readonly NpgsqlDataSource db;
    private readonly CacheOptions options;
    private readonly ILogger<HotCache> log;
    private readonly TimeProvider clock;
    private readonly ConcurrentDictionary<(CacheSpace, string), Flight> flights = new();
    private readonly LocalTier local;
    private long minEpoch;
    private long retryAt;

    private static readonly Meter Meter = new(MeterName);
    private static readonly Counter<long> HitCount = Meter.CreateCounter<long>("hits", description: "Reads answered from Redis");
    private static readonly Counter<long> LocalHitCount = Meter.CreateCounter<long>("local_hits", description: "Reads answered from this process's memory (the first level)");
    private static readonly Counter<long> MissCount = Meter.CreateCounter<long>("misses", description: "Reads Redis did not hold");
    private static readonly Counter<long> SharedCount = Meter.CreateCounter<long>("shared", description: "Misses answered by another request's PostgreSQL read (single flight)");
    private static readonly Counter<long> LoadCount = Meter.CreateCounter<long>("loads", description: "PostgreSQL reads made for the cache");
    private static readonly Counter<long> BypassCount = Meter.CreateCounter<long>("bypassed", description: "Reads sent to PostgreSQL because Redis was unavailable");
    private static readonly Counter<long> InvalidationCount = Meter.CreateCounter<long>("invalidations", description: "Keys invalidated by writes");
    private static readonly Counter<long> ErrorCount = Meter.CreateCounter<long>("errors", description: "Redis calls that failed");
    private static readonly Counter<long> FlushCount = Meter.CreateCounter<long>("flushes", description: "Flush epochs recorded in PostgreSQL because Redis could not be reached");

    public HotCache(IConnectionMultiplexer redis, NpgsqlDataSource db, IOptions<CacheOptions> options, ILogger<HotCache> log, TimeProvider? clock = null)
    {
        (this.redis, this.db, this.options, this.log) = (redis, db, options.Value, log);
        this.clock = clock ?? TimeProvider.System;
        local = new LocalTier(redis, this.options, log, this.clock);
    }

    /// <summary>Starts the first level's subscriptions; false while Redis cannot be reached (the poller calls this until it works).</summary>
    public Task<bool> TryStartLocalAsync() => local.TryStartAsync();

    public void Dispose() => local.Dispose();

    /// <summary>This process's counts since it started (the same as the exported metrics).</summary>
    public CacheStats Stats { get; } = new();

    /// <summary>Whether reads try Redis now: enabled, connected, and no failure within <see cref="CacheOptions.RetryAfterFailure"/>.</summary>
    public bool Available => options.Enabled && Reachable;

    private bool Reachable => redis.IsConnected && clock.GetTimestamp() >= Volatile.Read(ref retryAt);

    /// <summary>
    /// The value of <paramref name="key"/>: from Redis, or from <paramref name="load"/> (which runs
    /// without the caller's cancellation, since other requests may share it). A null answer (not
    /// found) is not cached.
    /// </summary>
    public async Task<T?> GetOrLoadAsync<T>(CacheSpace space, string key, Func<Task<T?>> load, CancellationToken ct) where T : class
    {
        var tag = new KeyValuePair<string, object?>("space", Name(space));
        string? token = null;
        var version = local.Version;   // before any read that may be kept in memory
        if (Available)
        {
            if (local.TryGet(space, key, out var kept))
            {
                Count(LocalHitCount, ref Stats.LocalHits, tag);
                return (T)kept!;
            }
            try
            {
                var answer = (RedisResult[])(await redis.GetDatabase().ScriptEvaluateAsync(ReadScript, values: [Volatile.Read(ref minEpoch), Name(space), key]))!;
                if ((int)answer[0] == 1)
                {
                    Count(HitCount, ref Stats.Hits, tag);
                    var value = JsonSerializer.Deserialize<T>((byte[])answer[1]!, CatalogJson.Options);
                    if (value is not null) local.TryStore(space, key, LocalTier.Shareable.Prepare(value), version);
                    return value;
                }
                token = (string)answer[1]!;
            }
            catch (Exception e) when (IsRedisFailure(e))
            {
                Failed(e);
            }
        }
        if (token is null)
        {
            // No markers to compare against, so no sharing and no storing: PostgreSQL answers.
            Count(BypassCount, ref Stats.Bypassed, tag);
            Count(LoadCount, ref Stats.Loads, tag);
            return await load();
        }
        Count(MissCount, ref Stats.Misses, tag);
        var loaded = await LoadOnceAsync(space, key, token, load, tag, ct);
        if (loaded is not null) local.TryStore(space, key, loaded, version);
        return loaded;
    }

    /// <summary>The single flight of a miss: one PostgreSQL read per key among requests that saw the same markers.</summary>
    private async Task<T?> LoadOnceAsync<T>(CacheSpace space, string key, string token, Func<Task<T?>> load, KeyValuePair<string, object?> tag, CancellationToken ct) where T : class
    {
        var id = (space, key);
        while (true)
        {
            if (flights.TryGetValue(id, out var current))
            {
                if (current.Token != token) return (T?)await LoadAndStoreAsync(space, key, token, load, tag); // began before a write this request must see
                Count(SharedCount, ref Stats.Shared, tag);
                return (T?)await current.Value.WaitAsync(ct);
            }
            var done = new TaskCompletionSource<object?>(TaskCreationOptions.RunContinuationsAsynchronously);
            var mine = new Flight(token, done.Task);
            if (!flights.TryAdd(id, mine)) continue;
            try
            {
                done.SetResult(await LoadAndStoreAsync(space, key, token, load, tag));
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
            finally
            {
                // Kept a moment after it lands: a request that missed just before the value was stored
                // (same markers, so the answer is right for it) takes it instead of reading again.
                _ = Task.Delay(FlightGrace).ContinueWith(_ => flights.TryRemove(KeyValuePair.Create(id, mine)), TaskScheduler.Default);
            }
            return (T?)await done.Task.WaitAsync(ct);
        }
    }

    private async Task<object?> LoadAndStoreAsync<T>(CacheSpace space, string key, string token, Func<Task<T?>> load, KeyValuePair<string, object?> tag) where T : class
    {
        Count(LoadCount, ref Stats.Loads, tag);
        var value = await load();
        if (value is null) return value;
        LocalTier.Shareable.Prepare(value);   // other requests of the flight share it
        // Stored in Redis after the answer, not before it: the store script keeps the value only
        // if the markers are still the ones read before the load, whenever it runs, so waiting for
        // it bought nothing but a third round trip on every miss (misses are what set the p99 of
        // cached lookups: BENCHMARKS.md, third session).
        if (Available) _ = Task.Run(() => StoreAsync(space, key, token, value));
        return value;
    }

    private async Task StoreAsync(CacheSpace space, string key, string token, object value)
    {
        try
        {
            var bytes = JsonSerializer.SerializeToUtf8Bytes(value, value.GetType(), CatalogJson.Options);
            await redis.GetDatabase().ScriptEvaluateAsync(StoreScript,
                values: [Volatile.Read(ref minEpoch), Name(space), key, token, bytes, (long)options.Ttl.TotalMilliseconds]);
        }
        catch (Exception e) when (IsRedisFailure(e))
        {
            Failed(e);
        }
    }

    /// <summary>
    /// Makes <paramref name="keys"/> of <paramref name="space"/> stale: call after the write
    /// committed and before it is answered. Runs even when reads are off in this process.
    /// </summary>
    public async Task InvalidateAsync(CacheSpace space, IEnumerable<string> keys)
    {
        var distinct = keys.Distinct(StringComparer.Ordinal).ToArray();
        if (distinct.Length == 0) return;
        var tag = new KeyValuePair<string, object?>("space", Name(space));
        InvalidationCount.Add(distinct.Length, tag);
        Interlocked.Add(ref Stats.Invalidations, distinct.Length);
        if (!Reachable)
        {
            await FlushAsync();
            return;
        }
        try
        {
            foreach (var chunk in distinct.Chunk(1000))
                await local.BroadcastAsync(space, whole: false, prefix =>
                {
                    var args = new RedisValue[chunk.Length + 4];
                    (args[0], args[1], args[2], args[3]) = (Volatile.Read(ref minEpoch), Name(space), (long)MarkerLifetime.TotalMilliseconds, prefix);
                    for (var i = 0; i < chunk.Length; i++) args[i + 4] = chunk[i];
                    return redis.GetDatabase().ScriptEvaluateAsync(InvalidateScript, values: args);
                });
        }
        catch (Exception e) when (IsRedisFailure(e))
        {
            Failed(e);
            await FlushAsync();
        }
    }

    /// <summary>Makes every value of <paramref name="spaces"/> stale (changes too broad to list key by key).</summary>
    public async Task InvalidateAllAsync(params CacheSpace[] spaces)
    {
        if (!Reachable)
        {
            await FlushAsync();
            return;
        }
        try
        {
            foreach (var space in spaces)
                await local.BroadcastAsync(space, whole: true, message =>
                    redis.GetDatabase().ScriptEvaluateAsync(InvalidateSpaceScript, values: [Volatile.Read(ref minEpoch), Name(space), message]));
        }
        catch (Exception e) when (IsRedisFailure(e))
        {
            Failed(e);
            await FlushAsync();
        }
    }

    /// <summary>Redis could not be told: record a new epoch in PostgreSQL, which every process follows.</summary>
    private async Task FlushAsync()
    {
        FlushCount.Add(1);
        Interlocked.Increment(ref Stats.Flushes);
        try
        {
            await using var conn = await db.OpenConnectionAsync();
            var epoch = await conn.ExecuteScalarAsync<long>("update cache_epoch set epoch = epoch + 1 returning epoch");
            Follow(epoch);
            log.LogWarning("Redis could not be told of a write; recorded cache flush epoch {Epoch} in PostgreSQL", epoch);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            // The write is committed and will be answered as stored; only the cache bound is lost, until the values' TTL.
            log.LogError(e, "Neither Redis nor PostgreSQL took a cache flush after a write; cached values may be stale for up to {Ttl}", options.Ttl);
        }
    }

    /// <summary>Reads the flush epoch from PostgreSQL (the poller calls this).</summary>
    public async Task PollAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        Follow(await conn.ExecuteScalarAsync<long>(new CommandDefinition("select epoch from cache_epoch", cancellationToken: ct)));
    }

    private void Follow(long epoch)
    {
        for (var seen = Volatile.Read(ref minEpoch); epoch > seen; seen = Volatile.Read(ref minEpoch))
            if (Interlocked.CompareExchange(ref minEpoch, epoch, seen) == seen)
            {
                local.Clear();
                return;
            }
    }

    private void Failed(Exception e)
    {
        Interlocked.Increment(ref Stats.Errors);
        ErrorCount.Add(1);
        var was = Interlocked.Exchange(ref retryAt, clock.GetTimestamp() + (long)(options.RetryAfterFailure.TotalSeconds * clock.TimestampFrequency));
        if (was <= clock.GetTimestamp()) log.LogWarning("Redis failed ({Message}); reads go to PostgreSQL for {Delay}", e.Message, options.RetryAfterFailure);
    }

    private static bool IsRedisFailure(Exception e) => e is RedisException or TimeoutException or ObjectDisposedException;

    private static void Count(Counter<long> counter, ref long stat, KeyValuePair<string, object?> tag)
    {
        counter.Add(1, tag);
        Interlocked.Increment(ref stat);
    }

    private static string Name(CacheSpace space) => space switch
    {
        CacheSpace.File => "file",
        CacheSpace.Dataset => "dataset",
        CacheSpace.Schema => "schema",
        _ => throw new ArgumentOutOfRangeException(nameof(space)),
    };

    /// <summary>Polls the flush epoch in PostgreSQL.</summary>
    public sealed class EpochPoller(HotCache cache, IOptions<CacheOptions> options, ILogger<EpochPoller> log) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            using var timer = new PeriodicTimer(options.Value.FlushPoll);
            do
            {
                await cache.TryStartLocalAsync();
                try
                {
                    await cache.PollAsync(stoppingToken);
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException or PostgresException)
                {
                    log.LogWarning(e, "Could not read the cache flush epoch; trying again");
                }
            } while (await timer.WaitForNextTickAsync(stoppingToken));
        }
    }
}

/// <summary>Counts of one process, since it started.</summary>
public sealed class CacheStats
{
    public long Hits;
    public long LocalHits;
    public long Misses;
    public long Shared;
    public long Loads;
    public long Bypassed;
    public long Invalidations;
    public long Errors;
    public long Flushes;
}
