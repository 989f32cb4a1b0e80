namespace Catalog.Contracts;

/// <summary>A rule as a whole: every lock OK, some still replicating, some stuck (retried on a schedule), or suspended by a person.</summary>
public enum RuleState { Ok, Replicating, Stuck, Suspended }

/// <summary>One replica a rule needs: there, on its way, or stuck with a reason.</summary>
public enum LockState { Ok, Replicating, Stuck }

/// <summary>
/// A transfer request for one file to one SE: queued (waiting for its turn, or for its retry),
/// active (claimed by the worker), done, stuck (retries spent or no source; retried on the
/// stuck schedule), or canceled (no rule needs it any more).
/// </summary>
public enum TransferState { Queued, Active, Done, Stuck, Canceled }

/// <summary>
/// A replication rule: the files of exactly one of a dataset, a collection, a path prefix or a
/// metadata query (under a path) shall have <c>Copies</c> copies on SEs matching <c>SeExpression</c>
/// (over SE name, site and attributes, e.g. <c>tier=1&amp;region!=asia</c>), until it expires.
/// </summary>
public sealed record RuleSpec(
    string? Dataset = null, string? Collection = null, string? Prefix = null, string? Query = null, string? Under = null,
    int? Copies = null, string? SeExpression = null, long? LifetimeSeconds = null, int? Priority = null, string? Comment = null);

/// <summary>A rule with its locks counted by state.</summary>
public sealed record RuleInfo(
    long Id, string Account, string Selector, string SelectorKind, int Copies, string SeExpression, int Priority,
    RuleState State, string? Reason, DateTimeOffset Created, DateTimeOffset? ExpiresAt, long Files,
    long LocksOk, long LocksReplicating, long LocksStuck, string? Comment, IReadOnlyList<string> Targets);

/// <summary>One stuck lock of a rule and why.</summary>
public sealed record StuckLock(string Lfn, string Se, string Reason, int Attempts, DateTimeOffset? NextRetry);

/// <summary>A rule and why its stuck locks are stuck (the first page of them).</summary>
public sealed record RuleDetail(RuleInfo Rule, IReadOnlyList<StuckLock> Stuck, IReadOnlyDictionary<string, long> StuckReasons);

/// <summary>One transfer request with its last attempt.</summary>
public sealed record TransferInfo(
    long Id, string Lfn, string? Source, string Destination, TransferState State, int Attempts, string? Reason,
    DateTimeOffset Created, DateTimeOffset Updated, DateTimeOffset? NextAttempt, long Size);

public sealed record TransferPage(IReadOnlyList<TransferInfo> Transfers, long? Next);

/// <summary>
/// One direction of one link over a window: what went, how fast, what failed and why, and the
/// concurrency the optimizer allows it now.
/// </summary>
public sealed record LinkStats(
    string Source, string Destination, long Files, long Bytes, double BytesPerSecond, long Failures,
    IReadOnlyDictionary<string, long> FailuresByReason, int Active, int Concurrency, string? OptimizerNote);

public sealed record LinkStatsResponse(DateTimeOffset Since, IReadOnlyList<LinkStats> Links);

/// <summary>
/// Asks for a consistency check of an SE; repair acts on what it finds. With
/// <paramref name="Checksums"/> the SE is also asked for the Adler-32 of every file whose size
/// matches (or of <paramref name="ChecksumSample"/> of them, chosen at random): a slower, deeper
/// check, since the SE reads each file to answer.
/// </summary>
public sealed record ConsistencyRequest(bool Repair = false, long? DarkGraceSeconds = null, bool Checksums = false, int? ChecksumSample = null);

/// <summary>
/// What an SE holds against what the catalog says it holds: dark files (on the SE only), lost
/// replicas (in the catalog only, or with another size or checksum), and what a repair did.
/// </summary>
public sealed record ConsistencyReport(
    string Se, DateTimeOffset Started, double Seconds, long SeFiles, long CatalogReplicas,
    IReadOnlyList<string> Dark, IReadOnlyList<LostReplica> Lost, long DarkDeleted, long LostMarkedBad, long LostRequeued,
    long ChecksumsCompared = 0, long ChecksumsUnreadable = 0);

public sealed record LostReplica(string Lfn, string Reason);
