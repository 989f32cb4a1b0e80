using Catalog.Api.Errors;
using System.Text.Json.Nodes;
using Catalog.Api.Http;
using Catalog.Api.Namespace;
using Catalog.Api.StorageElements;
using Catalog.Contracts;
using Catalog.Storage;

namespace Catalog.Api.Files;

/// <summary>
/// One item of a registration as validation understood it: the LFN (and dataset) parsed once,
/// the checksum decoded, the parents parsed. What the database decides (schema, parents'
/// existence, datablocks, conflicts) is the writer's.
/// </summary>
public sealed record ParsedFile(int Index, LfnPath Path, LfnPath? Dataset, Guid Guid, bool GuidGiven, long Size, int Adler32,
    string? Md5, JsonObject? Values, IReadOnlyList<NewReplica?> Replicas, List<LfnPath> Parents)
{
    /// <summary>The path permission is checked on: the LFN, or for a file into a dataset the dataset's path and the name.</summary>
    public string PermissionPath => Dataset is { } ds ? $"{ds.Path}/{Path.Name}" : Path.Path;

    /// <summary>The directory the file lands in, for files not placed into a dataset.</summary>
    public string? Directory => Dataset is null ? Path.Parent : null;
}

/// <summary>A validated item on its way into the tables; the writer sets its datablock, ids and normalized metadata.</summary>
public sealed record ValidFile(ParsedFile Parsed, int Index, List<NewReplicaRow> Replicas)
{
    /// <summary>The LFN; for a file registered into a dataset, set once its datablock is chosen.</summary>
    public LfnPath Path { get; set; } = Parsed.Path;
    public string? Metadata { get; set; } = Parsed.Values?.ToJsonString();
    public long DirId { get; set; }
    public long FileId { get; set; }

    public LfnPath? Dataset => Parsed.Dataset;
    public Guid Guid => Parsed.Guid;
    public bool GuidGiven => Parsed.GuidGiven;
    public long Size => Parsed.Size;
    public int Adler32 => Parsed.Adler32;
    public string? Md5 => Parsed.Md5;
    public JsonObject? Values => Parsed.Values;
    public List<LfnPath> Parents => Parsed.Parents;
}

/// <summary>
/// The pure part of registration: no database. <see cref="Parse"/> reads each item once (names,
/// sizes, checksums, parents) before permission is checked; <see cref="Validate"/> then checks
/// the replicas against an SE registry and the batch's own duplicates. The replica service
/// shares the SE check (<see cref="SeRegistry.ValidateNewReplica"/>).
/// </summary>
public static class RegistrationValidator
{
    /// <summary>Parses every item; <paramref name="errors"/>[i] is set for an item that cannot be parsed.</summary>
    public static ParsedFile?[] Parse(IReadOnlyList<NewFile?> files, IReadOnlyList<string> roots, out ItemError?[] errors)
    {
        var parsed = new ParsedFile?[files.Count];
        errors = new ItemError?[files.Count];
        for (var i = 0; i < files.Count; i++) errors[i] = ParseOne(i, files[i], roots, out parsed[i]);
        return parsed;
    }

    /// <summary>
    /// The parsed items whose replicas are valid and which repeat no earlier item's LFN or GUID;
    /// every other item gets its failed result in <paramref name="results"/>.
    /// </summary>
    public static List<ValidFile> Validate(IReadOnlyList<NewFile?> files, ParsedFile?[] parsed, ItemError?[] parseErrors, SeRegistry ses,
        RegisterResult?[] results)
    {
        var valid = new List<ValidFile>(files.Count);
        var firstByLfn = new Dictionary<string, int>(StringComparer.Ordinal);
        var firstByGuid = new Dictionary<Guid, int>();
        for (var i = 0; i < files.Count; i++)
        {
            ValidFile? item = null;
            var error = parseErrors[i] ?? CheckReplicas(parsed[i]!, ses, out item);
            var key = item is null ? "" : item.Parsed.Dataset is { } ds ? ds.Path + "//" + item.Path.Name : item.Path.Path;
            if (error is null && !firstByLfn.TryAdd(key, i))
                error = new ItemError(ErrorCode.Conflict, $"files[{i}].lfn: the same LFN is at files[{firstByLfn[key]}]", $"files[{i}].lfn");
            if (error is null && item!.Parsed.GuidGiven && !firstByGuid.TryAdd(item.Parsed.Guid, i))
                error = new ItemError(ErrorCode.Conflict, $"files[{i}].guid: the same GUID is at files[{firstByGuid[item.Parsed.Guid]}]", $"files[{i}].guid");
            if (error is null) valid.Add(item!);
            else results[i] = new RegisterResult(i, files[i]?.Lfn, ItemStatus.Failed, Error: error);
        }
        return valid;
    }

    /// <summary>One parsed item's replicas against the registry (the wrong-destination-SE mistake stops here).</summary>
    public static ItemError? CheckReplicas(ParsedFile parsed, SeRegistry ses, out ValidFile? valid)
    {
        valid = null;
        var at = $"files[{parsed.Index}]";
        var replicas = new List<NewReplicaRow>();
        for (var j = 0; j < parsed.Replicas.Count; j++)
        {
            if (ses.ValidateNewReplica($"{at}.replicas[{j}]", parsed.Replicas[j], out var row) is { } error) return error;
            if (replicas.Any(r => r.SeId == row!.SeId)) return CatalogException.InvalidItem($"{at}.replicas[{j}].se", "names the same SE twice");
            replicas.Add(row!);
        }
        valid = new ValidFile(parsed, parsed.Index, replicas);
        return null;
    }

    private static ItemError? ParseOne(int i, NewFile? file, IReadOnlyList<string> roots, out ParsedFile? parsed)
    {
        parsed = null;
        var at = $"files[{i}]";
        if (file is null) return CatalogException.InvalidItem(at, "is required");
        LfnPath? dataset = null;
        LfnPath path;
        if (file.Dataset is not null)
        {
            // Into a dataset: the LFN is just the file's name; the datablock is chosen when stored.
            if (!Lfn.TryParse(file.Dataset, roots, out var ds, out var dsError, $"{at}.dataset")) return dsError;
            if (file.Lfn is null || file.Lfn.Contains('/')) return CatalogException.InvalidItem($"{at}.lfn", "must be a bare file name when a dataset is given");
            if (!Lfn.TryParse($"{ds.Path}/sub00/{file.Lfn}", roots, out path, out var nameError, $"{at}.lfn")) return nameError;
            dataset = ds;
        }
        else
        {
            // The parser drops a trailing slash (a directory path); a file's LFN must not have one, or
            // ".../dir/" would register a file named like the directory.
            if (file.Lfn is { Length: > 1 } lfn && lfn[^1] == '/')
                return new ItemError(ErrorCode.InvalidLfn, $"{at}.lfn ends with '/': that names a directory, not a file", $"{at}.lfn");
            if (!Lfn.TryParse(file.Lfn, roots, out path, out var lfnError, $"{at}.lfn")) return lfnError;
            if (path.IsRoot) return new ItemError(ErrorCode.InvalidLfn, $"{at}.lfn is a root, not a file", $"{at}.lfn");
        }
        var parents = new List<LfnPath>();
        var parentList = file.Parents ?? [];
        if (parentList.Count > 1000) return CatalogException.InvalidItem($"{at}.parents", "must hold at most 1000 LFNs");
        for (var j = 0; j < parentList.Count; j++)
        {
            if (!Lfn.TryParse(parentList[j], roots, out var parent, out var parentError, $"{at}.parents[{j}]")) return parentError;
            if (dataset is null && parent.Path == path.Path) return CatalogException.InvalidItem($"{at}.parents[{j}]", "names the file itself: a file cannot be its own parent");
            parents.Add(parent);
        }
        if (file.Size is not { } size) return CatalogException.InvalidItem($"{at}.size", "is required");
        if (size < 0) return CatalogException.InvalidItem($"{at}.size", "must not be negative");
        if (file.Adler32 is null) return CatalogException.InvalidItem($"{at}.adler32", "is required");
        if (!Mapping.TryParseAdler32(file.Adler32, out var adler)) return CatalogException.InvalidItem($"{at}.adler32", "must be 8 hex digits");
        if (file.Md5 is not null && !Mapping.IsMd5(file.Md5)) return CatalogException.InvalidItem($"{at}.md5", "must be 32 hex digits");
        if (file.Guid == Guid.Empty) return CatalogException.InvalidItem($"{at}.guid", "must not be the empty GUID");
        parsed = new ParsedFile(i, path, dataset, file.Guid ?? Guid.CreateVersion7(), file.Guid is not null, size, adler,
            file.Md5?.ToLowerInvariant(), file.Metadata, file.Replicas ?? [], parents.Distinct().ToList());
        return null;
    }
}
