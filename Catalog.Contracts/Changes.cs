namespace Catalog.Contracts;

/// <summary>What a change reports.</summary>
public enum ChangeKind { FileRegistered, FileRemoved, ReplicaAdded, ReplicaStateChanged, ReplicaRemoved, FileMoved, DirectoryMoved, FileCorrected, StorageElementRenamed }

/// <summary>
/// One change of the catalog, in feed order. File fields (GUID, size, Adler-32, dataset) come with
/// every file and replica change; SE and state with replica changes; the old LFN with moves
/// (for a directory move, <c>Lfn</c> and <c>OldLfn</c> are the directory's new and old paths). A
/// correction (<c>FileCorrected</c>: size, checksum or status set by a data manager) carries the new size and Adler-32.
/// An SE rename (<c>StorageElementRenamed</c>) has no LFN (""), the SE's new name in <c>Se</c> and its
/// old one in <c>OldSe</c>; only an unfiltered reader of the feed sees it.
/// </summary>
public sealed record Change(
    ChangeKind Kind, DateTimeOffset At, string Lfn, string? OldLfn = null, string? Dataset = null,
    string? Se = null, ReplicaState? State = null, Guid? Guid = null, long? Size = null, string? Adler32 = null, string? OldSe = null);

/// <summary>
/// A page of the change feed. <c>Next</c> is the cursor to pass as <c>after</c> for what follows;
/// it moves on even when the page is empty (changes outside the prefix were passed over).
/// </summary>
public sealed record ChangePage(IReadOnlyList<Change> Changes, string Next);
