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
/// How. Every process subscribes to one Redis channel. A writer, after bumping the Redis markers,
/// publishes what it changed there and waits until every subscriber has acknowledged that it
/// dropped those entries (PUBLISH answers how many received it). Each process also publishes a
/// ping to itself on the same channel every quarter <see cref="CacheOptions.LocalLease"/>; Redis
/// delivers a channel in order, so when a ping comes back every invalidation published before it
/// was applied. A process serves from memory only until its last returned ping's send time plus
/// the lease (less a tenth). A writer that misses an acknowledgement (a process frozen, cut off,
/// or slow) waits out the lease from its publish before it answers: by then that process has
/// stopped serving from memory. A process whose lease lapsed drops everything before serving
/// from memory again, so messages lost while it was cut off cannot leave stale entries.
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
    private long nextSeq;
    private int started;
    private bool acksHeard;
    private readonly SemaphoreSlim starting = new(1, 1);
    private ITimer? pinger;

    private sealed record Entry(object Value, long StoredAt);

    private sealed class Pending
    {
        public int Acks;
        public long Expected = long.MaxValue;
        public readonly TaskCompletionSource Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
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
                await subscriber.SubscribeAsync(RedisChannel.Literal("cat:ack:" + id), (_, seq) => Acknowledged((long)seq));
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
    /// Tells every process to drop <paramref name="keys"/> (all of <paramref name="space"/> when
    /// null) and waits for their acknowledgements, or out the lease. Throws when Redis fails.
    /// </summary>
    public async Task BroadcastAsync(CacheSpace space, IReadOnlyCollection<string>? keys)
    {
        // Without its acknowledgement channel a writer would wait out the lease on every write.
        if (!await TryStartAsync()) throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, "cannot subscribe to cache acknowledgements");
        var seq = Interlocked.Increment(ref nextSeq);
        var wait = new Pending();
        pending[seq] = wait;
        try
        {
            var published = clock.GetTimestamp();
            var message = keys is null ? $"a|{id}|{seq}|{(int)space}" : $"i|{id}|{seq}|{(int)space}|{string.Join('\n', keys)}";
            var receivers = await redis.GetSubscriber().PublishAsync(Channel, message);
            lock (wait)
            {
                wait.Expected = receivers;
                if (wait.Acks >= receivers) wait.Done.TrySetResult();
            }
            if (receivers == 0) return;
            try
            {
                await wait.Done.Task.WaitAsync(options.LocalAckTimeout, clock);
            }
            catch (TimeoutException)
            {
                var left = options.LocalLease - clock.GetElapsedTime(published);
                log.LogWarning("{Missing} of {Receivers} processes did not acknowledge an invalidation; waiting {Left} for their leases to lapse",
                    receivers - Volatile.Read(ref wait.Acks), receivers, left);
                if (left > TimeSpan.Zero) await Task.Delay(left, clock);
            }
        }
        finally
        {
            pending.TryRemove(seq, out _);
        }
    }

    private void Acknowledged(long seq)
    {
        if (!pending.TryGetValue(seq, out var wait)) return;
        lock (wait)
        {
            if (++wait.Acks >= wait.Expected) wait.Done.TrySetResult();
        }
    }

    private void Ping()
    {
        var sent = clock.GetTimestamp();
        redis.GetSubscriber().PublishAsync(Channel, $"p|{id}|{sent}").ContinueWith(
            t => log.LogDebug(t.Exception, "Cache lease ping failed"), TaskContinuationOptions.OnlyOnFaulted);
    }

    /// <summary>One message of the channel, in channel order.</summary>
    private void Apply(string message)
    {
        var parts = message.Split('|', 5);
        if (parts.Length < 3) return;
        if (parts[0] == "p")
        {
            if (parts[1] != id) return;
            var until = long.Parse(parts[2]) + (long)(options.LocalLease.TotalSeconds * 0.9 * clock.TimestampFrequency);
            lock (gate)
            {
                // Lapsed: invalidations may have been missed while cut off, so nothing kept is trusted.
                if (clock.GetTimestamp() >= freshUntil)
                {
                    version++;
                    entries.Clear();
                }
                if (until > freshUntil) Volatile.Write(ref freshUntil, until);
            }
            return;
        }
        if (parts.Length < 4 || !int.TryParse(parts[3], out var space)) return;
        lock (gate)
        {
            version++;
            if (parts[0] == "a")
            {
                foreach (var key in entries.Keys)
                    if ((int)key.Item1 == space) entries.TryRemove(key, out _);
            }
            else if (parts.Length == 5)
            {
                foreach (var key in parts[4].Split('\n')) entries.TryRemove(((CacheSpace)space, key), out _);
            }
        }
        redis.GetSubscriber().PublishAsync(RedisChannel.Literal("cat:ack:" + parts[1]), parts[2]).ContinueWith(
            t => log.LogWarning(t.Exception, "Could not acknowledge a cache invalidation"), TaskContinuationOptions.OnlyOnFaulted);
    }

    public void Dispose() => pinger?.Dispose();

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
