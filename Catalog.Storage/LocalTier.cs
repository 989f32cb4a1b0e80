using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Catalog.Storage;

/// <summary>
/// The in-process first level of <see cref="HotCache"/>: a hit costs no Redis round trip, with
/// the same guarantee as Redis (no reader anywhere sees a value from before an acknowledged write).
/// <para>
/// How. Every process that keeps values subscribes to one Redis channel and, every quarter
/// <see cref="CacheOptions.LocalLease"/>, registers itself in a Redis sorted set until Redis's
/// time plus the lease and publishes a ping to itself on the channel. Redis delivers a channel in
/// order, so when a ping comes back every invalidation published before it was applied; a process
/// serves from memory only until its last returned ping's send time plus the lease (less a tenth),
/// which ends before its registration does. A writer publishes what it changed and reads the
/// registered processes in the same script that bumps the Redis markers, then waits until each
/// of them has acknowledged (by id) that it dropped those entries. For one that does not (frozen,
/// cut off, or subscribed again after a blip that lost the message), it waits until that
/// registration ends: by then the process has stopped serving from memory. Redis numbers the
/// invalidations as they are published, and pings carry the last number: a process that finds a
/// gap (its subscription dropped and came back, losing messages) or whose lease lapsed drops
/// everything before it serves from memory again.
/// </para>
/// <para>
/// A value read before an invalidation is never stored after it: every applied invalidation bumps
/// <see cref="Version"/>, and a store only happens if the version is what it was before the read
/// (check and store under one lock with the invalidations). A flush epoch from PostgreSQL (a
/// writer that could not reach Redis) clears everything, so that bound is the same as Redis's.
/// </para>
/// </summary>
internal sealed class LocalTier : IDisposable
{
    private static readonly RedisChannel Channel = RedisChannel.Literal("cat:inv");

    // cat:procs: id -> end of registration (Redis time, ms). Pings and publishes read Redis's own clock.
    private const string PingScript = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        redis.call('ZADD', 'cat:procs', now + tonumber(ARGV[2]), ARGV[1])
        redis.call('PUBLISH', 'cat:inv', (redis.call('GET', 'cat:invseq') or '0') .. '|' .. ARGV[3])
        return 1
        """;

    /// <summary>
    /// The end of a writer's invalidation script (<see cref="HotCache"/>): publishes <c>msg</c>,
    /// numbered, in the same script that bumped the markers, and answers Redis's time and the
    /// registered processes with the end of each registration.
    /// </summary>
    public const string PublishLua = """

        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        redis.call('ZREMRANGEBYSCORE', 'cat:procs', '-inf', now)
        redis.call('PUBLISH', 'cat:inv', redis.call('INCR', 'cat:invseq') .. '|' .. msg)
        local live = redis.call('ZRANGE', 'cat:procs', 0, -1, 'WITHSCORES')
        table.insert(live, 1, now)
        return live
        """;

    private readonly IConnectionMultiplexer redis;
    private readonly CacheOptions options;
    private readonly ILogger log;
    private readonly TimeProvider clock;
    private readonly string id = Guid.NewGuid().ToString("N");
    private readonly ConcurrentDictionary<(CacheSpace, string), Entry> entries = new();
    private readonly ConcurrentDictionary<long, Pending> pending = new();
    private readonly Lock gate = new();
    private long version;
    private long freshUntil;
    private long lastSeq = -1;   // sequence number of the last invalidation applied (-1: none heard yet)
    private long nextSeq;
    private int started;
    private bool acksHeard;
    private readonly SemaphoreSlim starting = new(1, 1);
    private ITimer? pinger;

    private sealed record Entry(object Value, long StoredAt);

    private sealed class Pending
    {
        public readonly HashSet<string> Acked = new(StringComparer.Ordinal);
        public HashSet<string>? Expected;
        public readonly TaskCompletionSource Done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Check()
        {
            if (Expected is not null && Expected.IsSubsetOf(Acked)) Done.TrySetResult();
        }
    }

    public LocalTier(IConnectionMultiplexer redis, CacheOptions options, ILogger log, TimeProvider clock)
    {
        (this.redis, this.options, this.log, this.clock) = (redis, options, log, clock);
        freshUntil = clock.GetTimestamp();
    }

    /// <summary>Bumped by every invalidation applied here; read it before a read that may be stored.</summary>
    public long Version => Volatile.Read(ref version);

    private bool Serving => Keeps && clock.GetTimestamp() < Volatile.Read(ref freshUntil);

    /// <summary>Whether this process keeps values in memory (and so must hear every invalidation).</summary>
    private bool Keeps => options.Enabled && options.Local;

    /// <summary>
    /// Subscribes (the invalidation channel when this process keeps values in memory, its own
    /// acknowledgement channel always, since its writes invalidate even when its reads do not use
    /// the cache). Answers false while Redis cannot be reached; call again.
    /// </summary>
    public async Task<bool> TryStartAsync()
    {
        if (Volatile.Read(ref started) == 1) return true;
        // One subscription each, ever: a second one would count every acknowledgement twice.
        await starting.WaitAsync();
        try
        {
            if (Volatile.Read(ref started) == 1) return true;
            var subscriber = redis.GetSubscriber();
            if (!acksHeard)
            {
                await subscriber.SubscribeAsync(RedisChannel.Literal("cat:ack:" + id), (_, ack) => Acknowledged(ack!));
                acksHeard = true;
            }
            if (Keeps)
            {
                var queue = await subscriber.SubscribeAsync(Channel);
                queue.OnMessage(message => Apply(message.Message!));
                var period = options.LocalLease / 4;
                pinger = clock.CreateTimer(_ => Ping(), null, TimeSpan.Zero, period);
            }
            Volatile.Write(ref started, 1);
            return true;
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return false;
        }
        finally
        {
            starting.Release();
        }
    }

    public bool TryGet(CacheSpace space, string key, out object? value)
    {
        value = null;
        if (!Serving || !entries.TryGetValue((space, key), out var entry)) return false;
        if (clock.GetElapsedTime(entry.StoredAt) > options.Ttl) return false;
        value = entry.Value;
        return true;
    }

    /// <summary>Keeps <paramref name="value"/> unless an invalidation was applied since <paramref name="versionBefore"/>.</summary>
    public void TryStore(CacheSpace space, string key, object value, long versionBefore)
    {
        if (!Serving) return;
        lock (gate)
        {
            if (version != versionBefore || !Serving) return;
            if (entries.Count >= options.LocalMaxEntries) entries.Clear();
            entries[(space, key)] = new Entry(value, clock.GetTimestamp());
        }
    }

    /// <summary>Drops everything (a flush epoch from PostgreSQL).</summary>
    public void Clear()
    {
        lock (gate)
        {
            version++;
            entries.Clear();
        }
    }

    /// <summary>
    /// Tells every process to drop keys of <paramref name="space"/> (all of it when
    /// <paramref name="whole"/>) and waits for the acknowledgement of every registered process, or
    /// for the end of the registration of one that does not answer. <paramref name="publish"/> runs
    /// the writer's script ending in <see cref="PublishLua"/> with the message given (for keys,
    /// its prefix: the script appends the keys, one per line). Throws when Redis fails.
    /// </summary>
    public async Task BroadcastAsync(CacheSpace space, bool whole, Func<string, Task<RedisResult>> publish)
    {
        // Without its acknowledgement channel a writer would wait out every registration on every write.
        if (!await TryStartAsync()) throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, "cannot subscribe to cache acknowledgements");
        var seq = Interlocked.Increment(ref nextSeq);
        var wait = new Pending();
        pending[seq] = wait;
        try
        {
            var answer = (RedisResult[])(await publish(whole ? $"a|{id}|{seq}|{(int)space}" : $"i|{id}|{seq}|{(int)space}|"))!;
            var answered = clock.GetTimestamp();
            var now = (long)answer[0];
            var registered = new Dictionary<string, long>(StringComparer.Ordinal);
            for (var i = 1; i + 1 < answer.Length; i += 2) registered[(string)answer[i]!] = (long)(double)answer[i + 1];
            lock (wait)
            {
                wait.Expected = registered.Keys.ToHashSet(StringComparer.Ordinal);
                wait.Check();
            }
            if (registered.Count == 0) return;
            try
            {
                await wait.Done.Task.WaitAsync(options.LocalAckTimeout, clock);
            }
            catch (TimeoutException)
            {
                List<string> missing;
                lock (wait) missing = registered.Keys.Where(p => !wait.Acked.Contains(p)).ToList();
                var until = TimeSpan.FromMilliseconds(missing.Max(p => registered[p]) - now) - clock.GetElapsedTime(answered);
                log.LogWarning("{Missing} of {Registered} processes did not acknowledge an invalidation; waiting {Left} for their registrations to end",
                    missing.Count, registered.Count, until);
                if (until > TimeSpan.Zero) await Task.Delay(until, clock);
            }
        }
        finally
        {
            pending.TryRemove(seq, out _);
        }
    }

    private void Acknowledged(string ack)
    {
        var bar = ack.IndexOf('|');
        if (bar < 0 || !long.TryParse(ack.AsSpan(0, bar), out var seq) || !pending.TryGetValue(seq, out var wait)) return;
        lock (wait)
        {
            wait.Acked.Add(ack[(bar + 1)..]);
            wait.Check();
        }
    }

    private void Ping()
    {
        var sent = clock.GetTimestamp();
        redis.GetDatabase().ScriptEvaluateAsync(PingScript, values: [id, (long)options.LocalLease.TotalMilliseconds, $"p|{id}|{sent}"]).ContinueWith(
            t => log.LogDebug(t.Exception, "Cache lease ping failed"), TaskContinuationOptions.OnlyOnFaulted);
    }

    /// <summary>
    /// One message of the channel, in channel order: <c>seq|p|id|sent</c> (a ping, with the last
    /// invalidation's number), <c>seq|i|writer|n|space|keys</c> or <c>seq|a|writer|n|space</c>.
    /// Invalidations are numbered by Redis as they are published, so a gap means messages were lost
    /// (a subscription that dropped and came back) and nothing kept is trusted any more.
    /// </summary>
    private void Apply(string message)
    {
        var parts = message.Split('|', 6);
        if (parts.Length < 4 || !long.TryParse(parts[0], out var seq)) return;
        if (parts[1] == "p")
        {
            if (parts[2] != id) return;
            var until = long.Parse(parts[3]) + (long)(options.LocalLease.TotalSeconds * 0.9 * clock.TimestampFrequency);
            lock (gate)
            {
                // Lapsed, or invalidations published before this ping never arrived: drop everything.
                if (clock.GetTimestamp() >= freshUntil || (lastSeq >= 0 && seq != lastSeq))
                {
                    version++;
                    entries.Clear();
                }
                lastSeq = seq;
                if (until > freshUntil) Volatile.Write(ref freshUntil, until);
            }
            return;
        }
        if (parts.Length < 5 || !int.TryParse(parts[4], out var space)) return;
        lock (gate)
        {
            version++;
            if (lastSeq >= 0 && seq != lastSeq + 1) entries.Clear();
            else if (parts[1] == "a")
            {
                foreach (var key in entries.Keys)
                    if ((int)key.Item1 == space) entries.TryRemove(key, out _);
            }
            else if (parts.Length == 6)
            {
                foreach (var key in parts[5].Split('\n')) entries.TryRemove(((CacheSpace)space, key), out _);
            }
            lastSeq = seq;
        }
        redis.GetSubscriber().PublishAsync(RedisChannel.Literal("cat:ack:" + parts[2]), $"{parts[3]}|{id}").ContinueWith(
            t => log.LogWarning(t.Exception, "Could not acknowledge a cache invalidation"), TaskContinuationOptions.OnlyOnFaulted);
    }

    /// <summary>Stops pinging and ends this process's registration, so writers stop waiting for it at once.</summary>
    public void Dispose()
    {
        pinger?.Dispose();
        if (Volatile.Read(ref started) == 1 && Keeps)
        {
            try
            {
                redis.GetDatabase().SortedSetRemove("cat:procs", id);
            }
            catch (Exception e) when (e is RedisException or TimeoutException or ObjectDisposedException)
            {
                // It ends by itself within the lease.
            }
        }
    }

    /// <summary>
    /// Readies a value for sharing between requests (single flight, this first level): JSON nodes
    /// deserialized from text fill in lazily, which is not thread-safe, so they are filled in once
    /// here, before anyone else sees the value.
    /// </summary>
    public static class Shareable
    {
        private static readonly ConcurrentDictionary<Type, PropertyInfo[]> NodeProperties = new();

        public static T Prepare<T>(T value) where T : class
        {
            if (value is ICacheComposite composite)
                foreach (var part in composite.Parts) Prepare(part);
            foreach (var property in NodeProperties.GetOrAdd(value.GetType(), t => t.GetProperties()
                         .Where(p => typeof(JsonNode).IsAssignableFrom(p.PropertyType) && p.GetIndexParameters().Length == 0).ToArray()))
                Fill(property.GetValue(value) as JsonNode);
            return value;
        }

        private static void Fill(JsonNode? node)
        {
            switch (node)
            {
                case JsonObject o:
                    foreach (var (_, child) in o) Fill(child);
                    break;
                case JsonArray a:
                    foreach (var child in a) Fill(child);
                    break;
            }
        }
    }
}
