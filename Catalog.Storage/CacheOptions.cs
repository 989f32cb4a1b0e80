using System.ComponentModel.DataAnnotations;

namespace Catalog.Storage;

/// <summary>The Redis cache of hot reads, bound from <c>Catalog:Cache</c>.</summary>
public sealed class CacheOptions
{
    public const string Section = "Catalog:Cache";

    /// <summary>Serve hot reads from Redis (on by default). Off, every read goes to PostgreSQL.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How long a cached value lives at most (it is removed sooner by any write that changes it).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan Ttl { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How often each process reads the flush epoch from PostgreSQL: the staleness bound for the
    /// one case where a writer could not reach Redis to invalidate.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan FlushPoll { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>After a Redis failure, reads skip Redis for this long before trying it again.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan RetryAfterFailure { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Keep hot values in each process's memory too (the first level, on by default), kept right
    /// by acknowledged invalidations over Redis pub/sub (see <see cref="LocalTier"/>).
    /// </summary>
    public bool Local { get; set; } = true;

    /// <summary>
    /// How long a process may serve from memory after its last lease ping came back; a writer
    /// that misses a process's acknowledgement waits this long before answering.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan LocalLease { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a writer waits for every process's acknowledgement before waiting out the lease instead.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan LocalAckTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Most values one process keeps in memory (it starts over when full).</summary>
    [Range(1, 10_000_000)]
    public int LocalMaxEntries { get; set; } = 100_000;
}
