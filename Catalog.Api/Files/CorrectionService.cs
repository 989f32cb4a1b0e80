using Catalog.Api.Audit;
using Catalog.Api.Errors;
using Catalog.Api.Hosting;
using Catalog.Api.Http;
using Catalog.Api.Namespace;
using Catalog.Api.Security;
using Catalog.Contracts;
using Catalog.Storage;
using Microsoft.Extensions.Options;

namespace Catalog.Api.Files;

/// <summary>
/// A data manager's corrections of registered files (DIRAC's "set file status", a size or checksum
/// registered wrongly): per item, each with a reason that is audited with the old and new values.
/// A refused item changes nothing; the others are written in one transaction.
/// </summary>
public sealed class CorrectionService(Db db, IOptions<CatalogOptions> options, Access access, AuditLog audit, HotCache cache)
{
    public async Task<CorrectionResponse> CorrectAsync(CorrectionRequest request, Caller caller, CancellationToken ct)
    {
        access.DemandRole(caller, Role.DataManager, "correct files");
        var items = request.Items ?? throw CatalogException.Invalid("items", "is required");
        if (items.Count > options.Value.MaxBatchSize)
            throw CatalogException.TooMany("items", options.Value.MaxBatchSize, "correction", "Catalog:MaxBatchSize");
        var results = new CorrectionResult?[items.Count];
        var valid = new List<(int Index, LfnPath Path, FileCorrection Item, int? Adler32, byte[]? Md5)>();
        for (var i = 0; i < items.Count; i++)
        {
            var at = $"items[{i}]";
            if (items[i] is not { } item) { results[i] = Failed(i, null, at, "must be an object"); continue; }
            if (!Lfn.TryParse(item.Lfn, options.Value.Roots, out var path, out var lfnError, $"{at}.lfn")) { results[i] = new(i, item.Lfn, false, Error: lfnError); continue; }
            if (string.IsNullOrWhiteSpace(item.Reason) || item.Reason.Length > 500) { results[i] = Failed(i, item.Lfn, $"{at}.reason", "is required (at most 500 characters): it is audited with the change"); continue; }
            if (item.Status is null && item.Size is null && item.Adler32 is null && item.Md5 is null)
            { results[i] = Failed(i, item.Lfn, at, "give a status, size, adler32 or md5 to set"); continue; }
            if (item.Status is { } st && !Enum.IsDefined(st)) { results[i] = Failed(i, item.Lfn, $"{at}.status", "must be online or lost"); continue; }
            if (item.Size is < 0) { results[i] = Failed(i, item.Lfn, $"{at}.size", "must be 0 or more"); continue; }
            int? adler = null;
            if (item.Adler32 is { } a)
            {
                if (!Mapping.TryParseAdler32(a, out var parsed)) { results[i] = Failed(i, item.Lfn, $"{at}.adler32", "must be 8 hex digits"); continue; }
                adler = parsed;
            }
            if (item.Md5 is { } m && !Mapping.IsMd5(m)) { results[i] = Failed(i, item.Lfn, $"{at}.md5", "must be 32 hex digits"); continue; }
            if (access.Check(caller, Operation.Modify, path.Path) is { } refused) { results[i] = new(i, item.Lfn, false, Error: refused with { Field = $"{at}.lfn" }); continue; }
            valid.Add((i, path, item, adler, item.Md5 is null ? null : Convert.FromHexString(item.Md5)));
        }

        var changes = new List<(string Lfn, string Reason, Dictionary<string, string?> Detail)>();
        if (valid.Count > 0)
            await db.WriteAsync(async (conn, tx) =>
            {
                changes.Clear();
                foreach (var (i, path, item, adler, md5) in valid)
                {
                    var file = await NamespaceService.FindFileAsync(conn, tx, path, ct, forUpdate: true);
                    if (file is null || !await Access.CanSeeAsync(conn, tx, caller, path.Parent, file, ct))
                    {
                        results[i] = new(i, item.Lfn, false, Error: new ItemError(ErrorCode.NotFound, $"file '{path.Path}' is not registered", $"items[{i}].lfn"));
                        continue;
                    }
                    var status = item.Status is { } s ? (short)s : file.Status;
                    var size = item.Size ?? file.Size;
                    var checksum = adler ?? file.Adler32;
                    var newMd5 = md5 ?? file.Md5;
                    var detail = new Dictionary<string, string?> { ["reason"] = item.Reason };
                    if (status != file.Status) detail["status"] = $"{Mapping.Wire((FileStatus)file.Status)} -> {Mapping.Wire((FileStatus)status)}";
                    if (size != file.Size) detail["size"] = $"{file.Size} -> {size}";
                    if (checksum != file.Adler32) detail["adler32"] = $"{Mapping.Adler32(file.Adler32)} -> {Mapping.Adler32(checksum)}";
                    if (md5 is not null && (file.Md5 is null || !md5.AsSpan().SequenceEqual(file.Md5)))
                        detail["md5"] = $"{(file.Md5 is null ? "none" : Convert.ToHexStringLower(file.Md5))} -> {Convert.ToHexStringLower(md5)}";
                    var changed = detail.Keys.Where(k => k != "reason").ToList();
                    if (changed.Count > 0)
                    {
                        await FileStore.CorrectAsync(conn, tx, file.Id, status, size, checksum, newMd5, ct);
                        changes.Add((path.Path, item.Reason!, detail));
                    }
                    results[i] = new(i, path.Path, true, changed);
                }
                return true;
            }, ct);
        if (changes.Count > 0)
        {
            await cache.InvalidateAsync(CacheSpace.File, changes.Select(c => c.Lfn));
            await cache.InvalidateAllAsync(CacheSpace.Dataset); // sizes and statuses count in summaries
            foreach (var (lfn, _, detail) in changes) await audit.RecordAsync(caller, "file.correct", lfn, "corrected", detail);
        }
        return new CorrectionResponse(results.Select(r => r!).ToList());
    }

    private static CorrectionResult Failed(int index, string? lfn, string field, string rule) =>
        new(index, lfn, false, Error: new ItemError(ErrorCode.InvalidArgument, $"{field} {rule}", field));
}
