using System.Text.Json.Serialization;
using System.Text.Json.Nodes;

namespace Catalog.Contracts;

/// <summary>State of a storage element as a whole.</summary>
public enum StorageElementState { Online, Degraded, Offline }

/// <summary>State of one replica.</summary>
public enum ReplicaState { Available, Unavailable, Bad, BeingCopied }

/// <summary>Lifecycle status of a file.</summary>
public enum FileStatus { Online, Lost }

/// <summary>What kind of namespace entry.</summary>
public enum EntryType { Directory, File }

/// <summary>A registered storage element.</summary>
public sealed record StorageElement(
    string Name, string Site, string Protocol, string BaseUrl,
    bool ReadEnabled, bool WriteEnabled, StorageElementState State,
    long Files = 0, long Bytes = 0, IReadOnlyDictionary<string, string>? Attributes = null);

/// <summary>
/// Creates or replaces a storage element (PUT by name). <c>Attributes</c> are free-form (tier,
/// region, ...) for replication rules to select SEs by; null keeps the stored ones, {} clears them.
/// </summary>
public sealed record StorageElementSpec(
    string? Site, string? Protocol, string? BaseUrl,
    bool ReadEnabled = true, bool WriteEnabled = true, StorageElementState State = StorageElementState.Online,
    IReadOnlyDictionary<string, string>? Attributes = null);

/// <summary>One replica in an SE's dump; <c>Pfn</c> only when it differs from the SE's base URL + LFN.</summary>
public sealed record SeReplica(string Lfn, long Size, string Adler32, ReplicaState State, string? Pfn = null);

/// <summary>One replica of a file.</summary>
public sealed record Replica(string Se, string Pfn, ReplicaState State, DateTimeOffset Created);

/// <summary>A file with its replicas.</summary>
public sealed record FileInfo(
    string Lfn, Guid Guid, long Size, string Adler32, string? Md5, FileStatus Status,
    string Owner, string Group, int Mode, DateTimeOffset Created, DateTimeOffset Modified,
    JsonObject? Metadata, IReadOnlyList<Replica> Replicas);

/// <summary>A directory or file as listed or stat'ed.</summary>
public sealed record Entry(
    string Name, string Path, EntryType Type, string Owner, string Group, int Mode,
    DateTimeOffset Created, DateTimeOffset Modified,
    Guid? Guid = null, long? Size = null, string? Adler32 = null);

/// <summary>One page of a directory listing; pass <see cref="Next"/> as <c>after</c> for the next.</summary>
public sealed record DirectoryPage(string Path, IReadOnlyList<Entry> Entries, string? Next);

/// <summary>Files and bytes under a directory or on a storage element.</summary>
public sealed record Usage(string Path, long Files, long Bytes, long Directories, IReadOnlyList<SeUsage> PerStorageElement);

/// <summary>Files and bytes held on one storage element.</summary>
public sealed record SeUsage(string Se, long Files, long Bytes);

/// <summary>mkdir.</summary>
public sealed record MakeDirectoryRequest(string? Path, bool Parents = false, [property: JsonConverter(typeof(OctalModeConverter))] int? Mode = null);

/// <summary>Rename or move a file or a whole directory subtree.</summary>
public sealed record MoveRequest(string? From, string? To);

/// <summary>Remove files or directories, per item.</summary>
public sealed record RemoveRequest(IReadOnlyList<string?>? Paths, bool Recursive = false);

/// <summary>The outcome of removing one path.</summary>
public sealed record RemoveResult(string? Path, RemoveStatus Status, long FilesRemoved = 0, long DirectoriesRemoved = 0, ItemError? Error = null);

/// <summary>Removed now, already absent, or failed.</summary>
public enum RemoveStatus { Removed, Absent, Failed }

/// <summary>Per-item results of a remove.</summary>
public sealed record RemoveResponse(IReadOnlyList<RemoveResult> Results);

/// <summary>A replica to add, at registration or later.</summary>
public sealed record NewReplica(string? Se, string? Pfn = null, ReplicaState? State = null);

/// <summary>One file to register: the job's output with its replicas and metadata.</summary>
/// <param name="Dataset">If given, the file goes into this dataset's current datablock and <paramref name="Lfn"/> is just its name.</param>
/// <param name="Parents">LFNs of the files this one was made from (lineage).</param>
public sealed record NewFile(
    string? Lfn, long? Size, string? Adler32, Guid? Guid = null, string? Md5 = null,
    IReadOnlyList<NewReplica>? Replicas = null, JsonObject? Metadata = null,
    string? Dataset = null, IReadOnlyList<string?>? Parents = null);

/// <summary>A batch registration.</summary>
public sealed record RegisterRequest(IReadOnlyList<NewFile?>? Files);

/// <summary>Created now, already registered identically, or failed.</summary>
public enum ItemStatus { Created, Exists, Failed }

/// <summary>The outcome of one registered file, by its position in the request.</summary>
public sealed record RegisterResult(int Index, string? Lfn, ItemStatus Status, Guid? Guid = null, int ReplicasAdded = 0, ItemError? Error = null);

/// <summary>Per-item results of a registration, with counts.</summary>
public sealed record RegisterResponse(IReadOnlyList<RegisterResult> Results, int Created, int Existing, int Failed);

/// <summary>Replicas to add to registered files.</summary>
public sealed record AddReplicasRequest(IReadOnlyList<ReplicaRef?>? Replicas);

/// <summary>Names one replica (and, when adding, its PFN and state).</summary>
public sealed record ReplicaRef(string? Lfn, string? Se, string? Pfn = null, ReplicaState? State = null);

/// <summary>Replicas to remove.</summary>
public sealed record RemoveReplicasRequest(IReadOnlyList<ReplicaRef?>? Replicas);

/// <summary>Replica states to set.</summary>
public sealed record SetReplicaStateRequest(IReadOnlyList<ReplicaRef?>? Replicas);

/// <summary>What happened to one replica.</summary>
public enum ReplicaOutcome { Added, Exists, Removed, Absent, Updated, Failed }

/// <summary>The outcome of one replica operation.</summary>
public sealed record ReplicaResult(int Index, string? Lfn, string? Se, ReplicaOutcome Outcome, ItemError? Error = null);

/// <summary>Per-item results of a replica operation.</summary>
public sealed record ReplicaResponse(IReadOnlyList<ReplicaResult> Results);

/// <summary>A bulk replica lookup.</summary>
/// <param name="All">Every replica whatever its state and SE; by default only the usable ones (available, on a read-enabled SE).</param>
/// <param name="Se">Only replicas on SEs this expression selects (tier=1&amp;region!=asia, a name, ...).</param>
public sealed record LookupRequest(IReadOnlyList<string?>? Lfns, bool? All = null, string? Se = null);

/// <summary>
/// A data manager's correction of a registered file: its status (e.g. lost), or a size or checksum
/// registered wrongly. <see cref="Reason"/> is required and audited with the old and new values.
/// </summary>
public sealed record FileCorrection(string? Lfn, string? Reason, FileStatus? Status = null, long? Size = null, string? Adler32 = null, string? Md5 = null);

public sealed record CorrectionRequest(IReadOnlyList<FileCorrection?>? Items);

/// <summary>One correction's outcome: <see cref="Changed"/> names what changed (empty when it was so already).</summary>
public sealed record CorrectionResult(int Index, string? Lfn, bool Ok, IReadOnlyList<string>? Changed = null, ItemError? Error = null);

public sealed record CorrectionResponse(IReadOnlyList<CorrectionResult> Results);

/// <summary>A new name for a storage element.</summary>
public sealed record RenameRequest(string? To);

/// <summary>One answer of a bulk lookup; <see cref="Error"/> is set for unknown or invalid LFNs.</summary>
public sealed record LookupResult(string? Lfn, Guid? Guid = null, long? Size = null, string? Adler32 = null,
    IReadOnlyList<Replica>? Replicas = null, ItemError? Error = null);

/// <summary>GUID to LFN.</summary>
public sealed record GuidLookup(Guid Guid, string Lfn);

/// <summary>Sets the permission bits of a file or directory (its owner, a data manager or an admin).</summary>
public sealed record ChangeModeRequest(string? Path, [property: JsonConverter(typeof(OctalModeConverter))] int? Mode, bool Recursive = false);

/// <summary>Gives a file or directory another owner and/or group (data managers and admins).</summary>
public sealed record ChangeOwnerRequest(string? Path, string? Owner = null, string? Group = null, bool Recursive = false);
