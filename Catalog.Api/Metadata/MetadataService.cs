using System.Text.Json;
using System.Text.Json.Nodes;
using Catalog.Api.Audit;
using Catalog.Api.Errors;
using Catalog.Api.Hosting;
using Catalog.Api.Namespace;
using Catalog.Api.Security;
using Catalog.Contracts;
using Catalog.Storage;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Catalog.Api.Metadata;

/// <summary>
/// Values on files and directories, one at a time or 10,000 per call, checked against the schema in
/// force and answered per item. A directory's values are inherited by everything below it, and an
/// attribute is set at one level of a path only.
/// </summary>
public sealed class MetadataService(Db db, IOptions<CatalogOptions> options, Access access, AuditLog audit, HotCache cache)
{
    private IReadOnlyList<string> Roots => options.Value.Roots;

    private sealed record Target(int Index, LfnPath Path, JsonObject Values)
    {
        public long DirId { get; set; }          // the directory itself, or the file's directory
        public long FileId { get; set; }         // 0 for a directory
        public JsonObject Normalized { get; set; } = new();
    }

    public async Task<MetadataResponse> WriteAsync(MetadataWriteRequest request, Caller caller, CancellationToken ct)
    {
        var items = request.Items ?? throw CatalogException.Invalid("items", "is required");
        if (items.Count > options.Value.MaxBatchSize)
            throw CatalogException.TooMany("items", options.Value.MaxBatchSize, "request", "Catalog:MaxBatchSize");
        var results = new MetadataResult?[items.Count];
        var targets = new List<Target>();
        for (var i = 0; i < items.Count; i++)
        {
            var at = $"items[{i}]";
            if (items[i] is not { } item) { results[i] = Fail(i, null, ErrorCode.InvalidArgument, $"{at} is required", at); continue; }
            if (!Lfn.TryParse(item.Path, Roots, out var path, out var error, $"{at}.path")) { results[i] = new MetadataResult(i, item.Path, false, Error: error); continue; }
            if (item.Values is not { Count: > 0 } values) { results[i] = Fail(i, path.Path, ErrorCode.InvalidArgument, $"{at}.values must hold at least one attribute", $"{at}.values"); continue; }
            access.Demand(caller, Operation.Modify, path.Path, $"{at}.path");
            targets.Add(new Target(i, path, values));
        }

        await db.WriteAsync(async (conn, tx) =>
        {
            var pending = targets.Where(t => results[t.Index] is null).ToList();
            await ResolveAsync(conn, tx, pending, results, caller, ct);
            pending = pending.Where(t => results[t.Index] is null).ToList();
            var schemas = await AttributeSchema.LoadAsync(conn, tx, pending.Select(t => t.FileId == 0 ? t.Path.Path : t.Path.Parent), ct);
            foreach (var t in pending)
            {
                var schema = schemas[t.FileId == 0 ? t.Path.Path : t.Path.Parent];
                if (schema.Check(t.Values, t.FileId == 0 ? AttributeTarget.Directories : AttributeTarget.Files, $"items[{t.Index}].values", out var normalized) is { } e)
                    results[t.Index] = new MetadataResult(t.Index, t.Path.Path, false, Error: e);
                else t.Normalized = normalized;
            }
            pending = pending.Where(t => results[t.Index] is null).ToList();

            // Directories one by one (there are few): the one-level rule, then the subtree's effective values.
            foreach (var t in pending.Where(t => t.FileId == 0))
            {
                if (await OneLevelConflictAsync(conn, tx, t, ct) is { } conflict) { results[t.Index] = new MetadataResult(t.Index, t.Path.Path, false, Error: conflict); continue; }
                var (set, unset) = Split(t.Normalized);
                await MetadataStore.ChangeDirectoryValuesAsync(conn, tx, t.DirId, t.Path.Path, set, unset, ct);
                results[t.Index] = new MetadataResult(t.Index, t.Path.Path, true);
            }
            // Files in one statement.
            var files = pending.Where(t => t.FileId != 0).DistinctBy(t => t.FileId).ToList();
            if (files.Count > 0)
            {
                var split = files.Select(t => Split(t.Normalized)).ToList();
                await MetadataStore.SetFilesValuesAsync(conn, tx, files.Select(t => t.FileId).ToArray(),
                    split.Select(x => x.Set).ToArray(), split.Select(x => JsonSerializer.Serialize(x.Unset)).ToArray(), ct);
            }
            foreach (var t in pending.Where(t => t.FileId != 0)) results[t.Index] ??= new MetadataResult(t.Index, t.Path.Path, true);
            return true;
        }, ct);

        var changedFiles = targets.Where(t => t.FileId != 0 && results[t.Index]!.Ok).Select(t => t.Path.Path).ToList();
        await cache.FilesChangedAsync(changedFiles);
        // A directory's values reach every dataset summary below it (effective values): too broad to list.
        if (targets.Any(t => t.FileId == 0 && results[t.Index]!.Ok)) await cache.InvalidateAllAsync(CacheSpace.Dataset);
        await audit.RecordManyAsync(caller, "metadata.set", results.Select(r => (r!.Path, r.Ok ? "set" : "failed",
            (JsonObject?)(r.Ok ? new JsonObject { ["attributes"] = string.Join(",", items[r.Index]!.Values!.Select(v => v.Key)) }
                 : new JsonObject { ["error"] = r.Error!.Code.ToWire() }))));
        return new MetadataResponse(results!);
    }

    public async Task<MetadataResponse> ReadAsync(MetadataReadRequest request, Caller caller, CancellationToken ct)
    {
        var paths = request.Paths ?? throw CatalogException.Invalid("paths", "is required");
        if (paths.Count > options.Value.MaxBatchSize)
            throw CatalogException.TooMany("paths", options.Value.MaxBatchSize, "request", "Catalog:MaxBatchSize");
        var results = new MetadataResult?[paths.Count];
        var targets = new List<Target>();
        for (var i = 0; i < paths.Count; i++)
        {
            if (!Lfn.TryParse(paths[i], Roots, out var path, out var error, $"paths[{i}]")) { results[i] = new MetadataResult(i, paths[i], false, Error: error); continue; }
            if (access.Check(caller, Operation.Read, path.Path) is { } refused) { results[i] = new MetadataResult(i, path.Path, false, Error: refused with { Field = $"paths[{i}]" }); continue; }
            targets.Add(new Target(i, path, []));
        }
        await using var conn = await db.OpenAsync(ct);
        var dirs = await ResolveAsync(conn, null, targets, results, caller, ct);
        var fileValues = targets.Any(t => t.FileId != 0)
            ? await MetadataStore.FileValuesAsync(conn, targets.Where(t => t.FileId != 0).Select(t => t.FileId).ToArray(), ct)
            : [];
        foreach (var t in targets.Where(t => results[t.Index] is null))
        {
            if (t.FileId == 0)
            {
                var d = dirs[t.Path.Path];
                results[t.Index] = new MetadataResult(t.Index, t.Path.Path, true, Parse(d.Own) ?? [], Parse(d.Effective) ?? []);
            }
            else
            {
                var own = Parse(fileValues.GetValueOrDefault(t.FileId)) ?? [];
                var effective = Parse(dirs.GetValueOrDefault(t.Path.Parent).Effective) ?? [];
                foreach (var (k, v) in own) effective[k] = v?.DeepClone();
                results[t.Index] = new MetadataResult(t.Index, t.Path.Path, true, own, effective);
            }
        }
        return new MetadataResponse(results!);
    }

    /// <summary>
    /// Finds each target as a directory or a file (by its directory); unknown ones fail their
    /// item, and so do those the caller may not see, with the same answer.
    /// </summary>
    private static async Task<Dictionary<string, (string Path, long Id, short Kind, string? Own, string? Effective)>> ResolveAsync(
        NpgsqlConnection conn, NpgsqlTransaction? tx, List<Target> targets, MetadataResult?[] results, Caller caller, CancellationToken ct)
    {
        var wanted = targets.SelectMany(t => new[] { t.Path.Path, t.Path.IsRoot ? t.Path.Path : t.Path.Parent }).Distinct().ToArray();
        var dirs = (await MetadataStore.DirectoryValuesAsync(conn, tx, wanted, ct)).ToDictionary(d => d.Path, StringComparer.Ordinal);
        var fileTargets = targets.Where(t => !dirs.ContainsKey(t.Path.Path) && !t.Path.IsRoot && dirs.ContainsKey(t.Path.Parent)).ToList();
        var files = fileTargets.Count == 0 ? [] : await FileStore.GetByLfnsAsync(conn, tx,
            fileTargets.Select(t => t.Path.Parent).ToArray(), fileTargets.Select(t => t.Path.Name).ToArray(), ct);
        Func<Target, bool> visible = _ => true;
        if (!caller.BypassesModes)
        {
            var gates = await Access.GatesAsync(conn, tx, caller, wanted, ct);
            var modes = (await DirectoryStore.GetManyAsync(conn, tx, targets.Where(t => dirs.ContainsKey(t.Path.Path)).Select(t => t.Path.Path).Distinct().ToArray(), ct))
                .ToDictionary(d => d.Path, StringComparer.Ordinal);
            visible = t => modes.TryGetValue(t.Path.Path, out var d)
                ? Access.CanSee(caller, gates, d.Path, d.Owner, d.Grp, d.Mode)
                : files.TryGetValue(t.Path.Path, out var f) && Access.CanSee(caller, gates, t.Path.Parent, f.Owner, f.Grp, f.Mode);
        }
        foreach (var t in targets)
        {
            var seen = visible(t);
            if (seen && dirs.TryGetValue(t.Path.Path, out var d)) { t.DirId = d.Id; continue; }
            if (seen && files.TryGetValue(t.Path.Path, out var file))
            {
                t.DirId = file.DirId;
                t.FileId = file.Id;
                continue;
            }
            results[t.Index] = Fail(t.Index, t.Path.Path, ErrorCode.NotFound, $"'{t.Path.Path}' is not registered", $"items[{t.Index}].path");
        }
        return dirs;
    }

    /// <summary>
    /// Checks and sets a directory's values inside the caller's transaction (collections and
    /// datasets are created with their metadata atomically); throws on the first problem.
    /// </summary>
    internal async Task ApplyDirectoryValuesAsync(NpgsqlConnection conn, NpgsqlTransaction tx, LfnPath path, long dirId, JsonObject values, string field, CancellationToken ct)
    {
        var schema = (await AttributeSchema.LoadAsync(conn, tx, [path.Path], ct))[path.Path];
        if (schema.Check(values, AttributeTarget.Directories, field, out var normalized) is { } error)
            throw new CatalogException(error.Code, error.Message, error.Field);
        var target = new Target(0, path, values) { DirId = dirId, Normalized = normalized };
        if (await OneLevelConflictAsync(conn, tx, target, ct) is { } conflict)
            throw new CatalogException(conflict.Code, conflict.Message.Replace("items[0].values", field), field);
        var (set, unset) = Split(normalized);
        await MetadataStore.ChangeDirectoryValuesAsync(conn, tx, dirId, path.Path, set, unset, ct);
    }

    /// <summary>An attribute set on a directory may not be set by an ancestor or a descendant too.</summary>
    private static async Task<ItemError?> OneLevelConflictAsync(NpgsqlConnection conn, NpgsqlTransaction tx, Target t, CancellationToken ct)
    {
        var keys = t.Normalized.Where(kv => kv.Value is not null).Select(kv => kv.Key).ToArray();
        if (keys.Length == 0) return null;
        var hit = await MetadataStore.SetElsewhereAsync(conn, tx, t.Path.Path, Lfn.Ancestry(t.Path.Path).Skip(1).ToArray(), keys, ct);
        return hit is { } h
            ? new ItemError(ErrorCode.Conflict, $"items[{t.Index}].values.{h.Key}: '{h.Key}' is already set at {h.Path}; an attribute is set at one level of a path only",
                $"items[{t.Index}].values.{h.Key}")
            : null;
    }

    private static (string Set, string[] Unset) Split(JsonObject values)
    {
        var set = new JsonObject();
        var unset = new List<string>();
        foreach (var (k, v) in values)
            if (v is null) unset.Add(k); else set[k] = v.DeepClone();
        return (set.ToJsonString(), unset.ToArray());
    }

    private static JsonObject? Parse(string? json) => json is null ? null : JsonNode.Parse(json)!.AsObject();

    private static MetadataResult Fail(int i, string? path, ErrorCode code, string message, string field) =>
        new(i, path, false, Error: new ItemError(code, message, field));
}
