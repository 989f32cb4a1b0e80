namespace Catalog.Storage;

// Row shapes as the stores read them; services turn them into Catalog.Contracts types.

public sealed record StorageElementRow(
    short Id, string Name, string Site, string Protocol, string BaseUrl,
    bool ReadEnabled, bool WriteEnabled, short State, long Files, long Bytes, string Attributes = "{}");

public sealed record DirectoryRow(
    long Id, long? ParentId, string Name, string Path, string Owner, string Grp, int Mode,
    DateTime Created, DateTime Modified, string? EffMetadata = null);

public sealed record FileRow(
    long Id, long DirId, string Name, Guid Guid, long Size, int Adler32, byte[]? Md5, short Status,
    string Owner, string Grp, short Mode, DateTime Created, DateTime Modified, string? Metadata);

/// <summary>A listing row: a directory (Kind 0) or a file (Kind 1).</summary>
public sealed record EntryRow(
    short Kind, string Name, string Owner, string Grp, int Mode, DateTime Created, DateTime Modified,
    Guid? Guid, long? Size, int? Adler32);

public sealed record ReplicaRow(long FileId, string Se, string Pfn, short State, DateTime Created);

/// <summary>A file to insert, already validated; Md5 as 32 hex digits, Metadata as JSON text.</summary>
public sealed record NewFileRow(long DirId, string Name, Guid Guid, long Size, int Adler32, string? Md5, string? Metadata);

public sealed record NewReplicaRow(long FileId, short SeId, short State, string? Pfn);

public sealed record UsageRow(short SeId, long Files, long Bytes);
