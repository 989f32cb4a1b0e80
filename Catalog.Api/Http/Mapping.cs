using System.Globalization;
using System.Text.Json.Nodes;
using Catalog.Contracts;
using Catalog.Storage;

namespace Catalog.Api.Http;

/// <summary>Store rows to wire types, and the checksum spellings.</summary>
public static class Mapping
{
    /// <summary>An enum as it is spelled on the wire (snake_case, lower case).</summary>
    public static string Wire<T>(T value) where T : struct, Enum => CatalogJson.Name(value);

    public static string Adler32(int value) => ((uint)value).ToString("x8", CultureInfo.InvariantCulture);

    /// <summary>Exactly 8 hex digits, either case.</summary>
    public static bool TryParseAdler32(string? text, out int value)
    {
        value = 0;
        if (text is not { Length: 8 } || !text.All(char.IsAsciiHexDigit)) return false;
        value = unchecked((int)uint.Parse(text, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        return true;
    }

    public static bool IsMd5(string? text) => text is { Length: 32 } && text.All(char.IsAsciiHexDigit);

    public static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));

    public static Entry ToEntry(DirectoryRow d) =>
        new(d.Name, d.Path, EntryType.Directory, d.Owner, d.Grp, d.Mode, Utc(d.Created), Utc(d.Modified));

    public static Entry ToEntry(EntryRow e, string parentPath) => new(
        e.Name, parentPath + "/" + e.Name, e.Kind == 0 ? EntryType.Directory : EntryType.File,
        e.Owner, e.Grp, e.Mode, Utc(e.Created), Utc(e.Modified),
        e.Guid, e.Size, e.Adler32 is { } a ? Adler32(a) : null);

    public static Entry ToEntry(FileRow f, string lfn) => new(
        f.Name, lfn, EntryType.File, f.Owner, f.Grp, f.Mode, Utc(f.Created), Utc(f.Modified), f.Guid, f.Size, Adler32(f.Adler32));

    public static Replica ToReplica(ReplicaRow r) => new(r.Se, r.Pfn, (ReplicaState)r.State, Utc(r.Created));

    public static Contracts.FileInfo ToFileInfo(FileRow f, string lfn, IReadOnlyList<Replica> replicas) => new(
        lfn, f.Guid, f.Size, Adler32(f.Adler32), f.Md5 is null ? null : Convert.ToHexStringLower(f.Md5),
        (FileStatus)f.Status, f.Owner, f.Grp, f.Mode, Utc(f.Created), Utc(f.Modified),
        f.Metadata is null ? null : JsonNode.Parse(f.Metadata) as JsonObject, replicas);

    public static StorageElement ToStorageElement(StorageElementRow s) => new(
        s.Name, s.Site, s.Protocol, s.BaseUrl, s.ReadEnabled, s.WriteEnabled, (StorageElementState)s.State, s.Files, s.Bytes,
        System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, string>>(s.Attributes));
}
