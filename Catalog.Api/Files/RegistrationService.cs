using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Catalog.Api.Audit;
using Catalog.Api.Errors;
using Catalog.Api.Hosting;
using Catalog.Api.Http;
using Catalog.Api.Namespace;
using Catalog.Api.Security;
using Catalog.Contracts;
using Catalog.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Catalog.Api.Files;

/// <summary>
/// Registration, the hot path of every grid job: a batch of files with their replicas and
/// metadata in one transaction, answered per item. Nothing in the batch can fail the
/// transaction (every insert is <c>on conflict do nothing</c> and classified afterwards), so
/// each file is stored whole or not at all while its neighbours still go in.
/// </summary>
public sealed partial class RegistrationService
{
    private readonly Db db;
    private readonly IOptions<CatalogOptions> options;
    private readonly Access access;
    private readonly AuditLog audit;
    private readonly RegistrationCoalescer? coalescer;

    private readonly HotCache cache;

    public RegistrationService(Db db, IOptions<CatalogOptions> options, Access access, AuditLog audit, HotCache cache)
    {
        (this.db, this.options, this.access, this.audit, this.cache) = (db, options, access, audit, cache);
        if (options.Value.Registration.Coalesce) coalescer = new RegistrationCoalescer(this, db, options.Value.Registration);
    }

    public const int MaxIdempotencyKeyLength = 200;

    private sealed record Candidate(int Index, LfnPath Path, Guid Guid, bool GuidGiven, long Size, int Adler32,
        string? Md5, JsonObject? Values, List<NewReplicaRow> Replicas, LfnPath? Dataset, List<LfnPath> Parents)
    {
        /// <summary>The LFN; for a file registered into a dataset, set once its datablock is chosen.</summary>
        public LfnPath Path { get; set; } = Path;
        public string? Metadata { get; set; } = Values?.ToJsonString();
        public long DirId { get; set; }
        public long FileId { get; set; }
    }

    public async Task<RegisterResponse> RegisterAsync(RegisterRequest request, string? idempotencyKey, Caller caller, CancellationToken ct)
    {
        var files = request.Files ?? throw CatalogException.Invalid("files", "is required");
        if (files.Count == 0) throw CatalogException.Invalid("files", "must hold at least one file");
        if (files.Count > options.Value.MaxBatchSize)
            throw new CatalogException(ErrorCode.LimitExceeded,
                $"files: at most {options.Value.MaxBatchSize} per batch (Catalog:MaxBatchSize), got {files.Count}", "files");
        if (idempotencyKey is not null && (idempotencyKey.Length is 0 or > MaxIdempotencyKeyLength))
            throw CatalogException.Invalid("Idempotency-Key", $"must be 1 to {MaxIdempotencyKeyLength} characters");
        // Permission is all or nothing: one file outside the caller's scopes and nothing is stored.
        for (var i = 0; i < files.Count; i++)
        {
            if (files[i] is not { } f) continue;
            var target = f.Dataset is null ? f.Lfn : $"{f.Dataset}/{f.Lfn}";
            if (Lfn.TryParse(target, options.Value.Roots, out var p, out _, $"files[{i}].lfn"))
                access.Demand(caller, Operation.Create, p.Path, $"files[{i}].lfn");
        }
        var hash = idempotencyKey is null ? null : HashOf(request);

        // Small registrations (a job's outputs) may share a transaction and its commit with others.
        var response = coalescer is not null && files.Count <= options.Value.Registration.CoalesceMaxFiles
            ? await coalescer.SubmitAsync(new RegistrationCoalescer.Work(files, idempotencyKey, hash, caller, PartitionOf(files)), ct)
            : await InvalidatedAsync(await WriteBatchAsync(files, idempotencyKey, hash, caller, ct));
        await AuditAsync(caller, response);
        return response;
    }

    private static byte[] HashOf(RegisterRequest request)
    {
        using var json = PooledJson.Serialize(request, CatalogJson.Options);
        return SHA256.HashData(json.Memory.Span);
    }

    private async Task<RegisterResponse> InvalidatedAsync(RegisterResponse response)
    {
        await InvalidateAsync([response]);
        return response;
    }

    /// <summary>
    /// After the commit, before anyone is answered: the summaries of the datasets that gained
    /// files, and the cached entries of existing files that gained replicas (new files were never cached).
    /// </summary>
    internal async Task InvalidateAsync(IEnumerable<RegisterResponse> responses)
    {
        var stored = responses.SelectMany(r => r.Results).Where(r => r.Status is ItemStatus.Created or ItemStatus.Exists).ToList();
        await cache.FilesRegisteredAsync(stored.Select(r => r.Lfn!).ToList(),
            stored.Where(r => r.Status == ItemStatus.Exists && r.ReplicasAdded > 0).Select(r => r.Lfn!).ToList());
    }

    internal Task AuditAsync(Caller caller, RegisterResponse response) =>
        audit.RecordManyAsync(caller, "register", response.Results.Select(r => (r.Lfn, Mapping.Wire(r.Status),
            r.Error is null ? null : new System.Text.Json.Nodes.JsonObject { ["error"] = r.Error.Code.ToWire() }))).AsTask();

    /// <summary>Requests for one dataset (or directory) go to one lane, so lanes never wait on each other's locks.</summary>
    private static string PartitionOf(IReadOnlyList<NewFile?> files) =>
        files[0] is { } f ? f.Dataset ?? (f.Lfn is { } lfn && lfn.LastIndexOf('/') is > 0 and var slash ? lfn[..slash] : "") : "";

    /// <summary>
    /// Many small registrations in one transaction as if each ran alone, but stored together:
    /// one placement per dataset, one insert of all files, one of all replicas. Each request keeps
    /// its own idempotency key, permission check, per-file answers and field names.
    /// </summary>
    internal async Task<(RegisterResponse? Response, Exception? Error)[]> ProcessManyAsync(NpgsqlConnection conn, NpgsqlTransaction tx,
        IReadOnlyList<RegistrationCoalescer.Work> works, CancellationToken ct)
    {
        var outcomes = new (RegisterResponse? Response, Exception? Error)[works.Count];
        var ses = await RegistryAsync(conn, tx, ct);

        // Idempotency keys, claimed all at once. A key sent twice in one shared transaction (a
        // retry that overtook its first attempt) is answered like its first holder, afterwards.
        var holder = new Dictionary<string, int>(StringComparer.Ordinal);
        var repeats = new List<(int Work, int First)>();
        var skip = new bool[works.Count];
        for (var i = 0; i < works.Count; i++)
        {
            if (works[i].Key is not { } key) continue;
            if (holder.TryGetValue(key, out var first)) { repeats.Add((i, first)); skip[i] = true; }
            else holder[key] = i;
        }
        var claimedKeys = holder.Keys.ToArray();
        var earlier = await IdempotencyStore.ClaimManyAsync(conn, tx, claimedKeys, claimedKeys.Select(k => works[holder[k]].Hash!).ToArray(), ct);
        foreach (var (key, stored) in earlier)
        {
            var i = holder[key];
            skip[i] = true;
            outcomes[i] = Replay(stored, works[i].Hash!);
        }

        // w on the target directories, per request, against chains read once for the whole batch.
        var candidatesOf = new List<Candidate>?[works.Count];
        var offsets = new int[works.Count];
        var total = 0;
        for (var i = 0; i < works.Count; i++) { offsets[i] = total; total += works[i].Files.Count; }
        var results = new RegisterResult?[total];
        for (var i = 0; i < works.Count; i++)
        {
            if (skip[i]) continue;
            var local = new RegisterResult?[works[i].Files.Count];
            candidatesOf[i] = Validate(works[i].Files, ses, local);
            Array.Copy(local, 0, results, offsets[i], local.Length);
        }
        var bound = Enumerable.Range(0, works.Count).Where(i => candidatesOf[i] is not null && !works[i].Caller.BypassesModes).ToList();
        var chains = bound.Count == 0 ? [] : await DirectoryTree.LoadChainsAsync(conn, tx,
            bound.SelectMany(i => candidatesOf[i]!.Select(c => c.Path.ParentPath())), ct);

        var groups = new Dictionary<string, (Caller Caller, List<Candidate> Candidates, List<int> Works)>(StringComparer.Ordinal);
        for (var i = 0; i < works.Count; i++)
        {
            if (candidatesOf[i] is not { } candidates) continue;
            var work = works[i];
            try
            {
                DirectoryTree.DemandWritable(chains, candidates.Select(c => c.Path.ParentPath()), work.Caller, access, "files");
            }
            catch (CatalogException e)
            {
                outcomes[i] = (null, e);
                continue;
            }
            var identity = $"{work.Caller.Subject}\n{string.Join(',', work.Caller.Groups)}\n{string.Join(',', work.Caller.Roles.Order())}";
            if (!groups.TryGetValue(identity, out var group)) groups[identity] = group = (work.Caller, [], []);
            group.Candidates.AddRange(candidates.Select(c => c with { Index = offsets[i] + c.Index }));
            group.Works.Add(i);
        }
        var (completedKeys, answers) = (new List<string>(), new List<string>());
        foreach (var (caller, candidates, members) in groups.Values)
        {
            try
            {
                await StoreAsync(conn, tx, candidates, results, caller, ct, writableChecked: true);
            }
            catch (CatalogException e)
            {
                foreach (var i in members) outcomes[i] = (null, e);
                continue;
            }
            foreach (var i in members)
            {
                var slice = new RegisterResult[works[i].Files.Count];
                for (var k = 0; k < slice.Length; k++) slice[k] = Localize(results[offsets[i] + k]!, offsets[i] + k, k);
                var response = Summarize(slice);
                if (works[i].Key is { } key) { completedKeys.Add(key); answers.Add(JsonSerializer.Serialize(response, CatalogJson.Options)); }
                outcomes[i] = (response, null);
            }
        }
        await IdempotencyStore.CompleteManyAsync(conn, tx, completedKeys.ToArray(), answers.ToArray(), ct);
        // A refused request leaves no half-claimed key behind: a retry starts afresh.
        await IdempotencyStore.ReleaseAsync(conn, tx,
            holder.Where(h => !earlier.ContainsKey(h.Key) && outcomes[h.Value].Error is not null).Select(h => h.Key).ToArray(), ct);
        foreach (var (i, first) in repeats)
        {
            var key = works[i].Key!;
            outcomes[i] = earlier.TryGetValue(key, out var stored) ? Replay(stored, works[i].Hash!)
                : outcomes[first].Error is { } error ? (null, error)
                : works[i].Hash.AsSpan().SequenceEqual(works[first].Hash) ? outcomes[first] : (null, KeyReused());
        }
        return outcomes;
    }

    /// <summary>A request whose key was claimed before: the stored answer when it is the same request, else a refusal.</summary>
    private static (RegisterResponse? Response, Exception? Error) Replay((byte[] Hash, string? Response) stored, byte[] hash) =>
        stored.Hash.AsSpan().SequenceEqual(hash)
            ? (JsonSerializer.Deserialize<RegisterResponse>(stored.Response!, CatalogJson.Options), null)
            : (null, KeyReused());

    private static CatalogException KeyReused() =>
        new(ErrorCode.IdempotencyKeyReused, "Idempotency-Key was already used for a different request", "Idempotency-Key");

    /// <summary>A result computed at position <paramref name="merged"/> of a shared batch, as its request sees it.</summary>
    private static RegisterResult Localize(RegisterResult r, int merged, int local)
    {
        var prefix = $"files[{merged}]";
        return r with
        {
            Index = local,
            Error = r.Error is { Field: { } field } e && field.StartsWith(prefix, StringComparison.Ordinal)
                ? e with { Field = $"files[{local}]" + field[prefix.Length..] }
                : r.Error,
        };
    }

    /// <summary>One registration inside a given transaction: the idempotency key, validation, storage, the stored answer.</summary>
    internal async Task<RegisterResponse> ProcessAsync(NpgsqlConnection conn, NpgsqlTransaction tx, IReadOnlyList<NewFile?> files,
        string? idempotencyKey, byte[]? hash, Caller caller, CancellationToken ct)
    {
        if (idempotencyKey is not null
            && (await IdempotencyStore.ClaimManyAsync(conn, tx, [idempotencyKey], [hash!], ct)).TryGetValue(idempotencyKey, out var stored))
        {
            var (replayed, refused) = Replay(stored, hash!);
            return refused is null ? replayed! : throw refused;
        }

        var results = new RegisterResult?[files.Count];
        var candidates = Validate(files, await RegistryAsync(conn, tx, ct), results);
        await StoreAsync(conn, tx, candidates, results, caller, ct);

        var response = Summarize(results!);
        if (idempotencyKey is not null)
        {
            using var answer = PooledJson.Serialize(response, CatalogJson.Options);
            await IdempotencyStore.CompleteAsync(conn, tx, idempotencyKey, answer.Memory, ct);
        }
        return response;
    }

    /// <summary>The SE registry by name, which every item's replicas are validated against.</summary>
    private static async Task<Dictionary<string, StorageElementRow>> RegistryAsync(NpgsqlConnection conn, NpgsqlTransaction tx, CancellationToken ct) =>
        (await StorageElementStore.ListRegistryAsync(conn, tx, ct)).ToDictionary(s => s.Name, StringComparer.Ordinal);

    /// <param name="writableChecked">The caller already checked w on the target directories per request (shared transactions).</param>
    private async Task StoreAsync(NpgsqlConnection conn, NpgsqlTransaction tx, List<Candidate> candidates,
        RegisterResult?[] results, Caller caller, CancellationToken ct, bool writableChecked = false)
    {
        if (candidates.Count == 0) return;

        // 0. Files registered into a dataset get their datablock (or the LFN they already have, for a retry).
        candidates = await PlaceInDatasetsAsync(conn, tx, candidates, results, ct);
        if (candidates.Count == 0) return;

        // 1. Metadata against the schema in force at each target directory (path-based: it holds for a
        // directory not made yet), and parents must exist: both before any directory is made, so an
        // item that fails leaves no directory behind.
        candidates = await CheckMetadataAsync(conn, tx, candidates, results, ct);
        var parentIds = await ResolveParentsAsync(conn, tx, candidates, results, ct);
        candidates = candidates.Where(c => results[c.Index] is null).ToList();
        if (candidates.Count == 0) return;

        // 1b. Directories: w where creation happens, then create what is missing; a name held by a file fails the items below it.
        var targetDirs = candidates.Select(c => c.Path.ParentPath()).Distinct().ToList();
        if (!writableChecked) await DirectoryTree.DemandWritableAsync(conn, tx, targetDirs, caller, access, "files", ct);
        var dirIds = await DirectoryTree.EnsureAsync(conn, tx, targetDirs, caller.User, null, ct);
        foreach (var c in candidates)
            if (dirIds.TryGetValue(c.Path.Parent, out var dirId)) c.DirId = dirId;
        candidates = Keep(candidates, results, c => c.DirId != 0,
            c => new ItemError(ErrorCode.Conflict, $"a file exists at '{c.Path.Parent}' or one of its parents", "lfn"));
        if (candidates.Count == 0) return;
        await MarkDatablocksAsync(conn, tx, candidates, ct);

        // 2. A file may not take a directory's name (see DirectoryStore for the lock protocol).
        await DirectoryStore.LockAsync(conn, tx, candidates.Select(c => c.DirId).Distinct().ToArray(), exclusive: false, ct);
        var taken = await DirectoryStore.ExistingChildrenAsync(conn, tx,
            candidates.Select(c => c.DirId).ToArray(), candidates.Select(c => c.Path.Name).ToArray(), ct);
        candidates = Keep(candidates, results, c => !taken.Contains((c.DirId, c.Path.Name)),
            c => new ItemError(ErrorCode.Conflict, $"'{c.Path.Path}' is a directory", "lfn"));
        if (candidates.Count == 0) return;

        // 3. Files: insert; whatever was skipped is either an identical retry or a conflict.
        var inserted = await FileStore.InsertAsync(conn, tx, candidates.Select(c =>
            new NewFileRow(c.DirId, c.Path.Name, c.Guid, c.Size, c.Adler32, c.Md5, c.Metadata)).ToList(), caller.User, ct);
        var insertedIds = inserted.ToDictionary(r => (r.DirId, r.Name), r => r.Id);
        var created = new HashSet<int>();
        var skipped = new List<Candidate>();
        foreach (var c in candidates)
        {
            // The first candidate of a name took the row; a later one of the same name (a shared
            // transaction can hold two requests for one LFN) is classified like a retry.
            if (insertedIds.Remove((c.DirId, c.Path.Name), out var id)) { c.FileId = id; created.Add(c.Index); }
            else skipped.Add(c);
        }
        var existing = skipped.Count == 0 ? [] : await ClassifyExistingAsync(conn, tx, skipped, results, ct);

        // 4. Replicas of new files, and any missing ones of identical retries; lineage links likewise.
        var withReplicas = candidates.Where(c => c.FileId != 0).ToList();
        await LinkParentsAsync(conn, tx, withReplicas, parentIds, ct);
        // A new file's replicas are all new; only a retry's may be there already.
        var (fresh, retried) = (withReplicas.Where(c => created.Contains(c.Index)), withReplicas.Where(c => !created.Contains(c.Index)).ToList());
        static List<NewReplicaRow> Rows(IEnumerable<Candidate> of) => of.SelectMany(c => c.Replicas.Select(r => r with { FileId = c.FileId })).ToList();
        await ReplicaStore.AddToNewFilesAsync(conn, tx, Rows(fresh), ct);
        var added = retried.Count == 0 ? [] : await ReplicaStore.AddAsync(conn, tx, Rows(retried), ct);
        var addedPerFile = added.GroupBy(a => a.FileId).ToDictionary(g => g.Key, g => g.Count());
        foreach (var c in withReplicas)
        {
            var isNew = created.Contains(c.Index);
            results[c.Index] = new RegisterResult(c.Index, c.Path.Path, isNew ? ItemStatus.Created : ItemStatus.Exists,
                existing.GetValueOrDefault(c.Index, c.Guid), isNew ? c.Replicas.Count : addedPerFile.GetValueOrDefault(c.FileId));
        }
    }

    /// <summary>
    /// Chooses the datablock of every file registered into a dataset, under the dataset row's lock,
    /// so concurrent registrations never overfill a block or open two with one number. A file
    /// whose name already sits in one of the dataset's blocks keeps that LFN (an identical retry is
    /// then answered "exists"; a different file, a conflict).
    /// </summary>
    private static async Task<List<Candidate>> PlaceInDatasetsAsync(NpgsqlConnection conn, NpgsqlTransaction tx,
        List<Candidate> candidates, RegisterResult?[] results, CancellationToken ct)
    {
        foreach (var group in candidates.Where(c => c.Dataset is not null).GroupBy(c => c.Dataset!.Value.Path).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var dataset = await DatasetStore.LockAsync(conn, tx, group.Key, ct);
            if (dataset is null)
            {
                foreach (var c in group)
                    results[c.Index] = Failed(c, new ItemError(ErrorCode.NotFound, $"dataset '{group.Key}' does not exist (create it first)", "dataset"));
                continue;
            }
            var placed = await DatasetStore.FindNamesAsync(conn, tx, dataset.DirId, group.Select(c => c.Path.Name).ToArray(), ct);
            var (block, count) = (dataset.CurrentBlock, dataset.CurrentCount);
            foreach (var c in group)
            {
                if (placed.TryGetValue(c.Path.Name, out var blockPath)) { c.Path = LfnPath.Of($"{blockPath}/{c.Path.Name}", c.Path.Root); continue; }
                if (count >= dataset.MaxFiles) { block++; count = 0; }
                var target = $"{group.Key}/{DatasetStore.BlockName(block)}";
                c.Path = LfnPath.Of($"{target}/{c.Path.Name}", c.Path.Root);
                placed[c.Path.Name] = target; // a second request for the same name in this transaction lands on the same LFN
                count++;
            }
            await DatasetStore.SetCurrentAsync(conn, tx, dataset.DirId, block, count, ct);
        }
        return candidates.Where(c => results[c.Index] is null).ToList();
    }

    private static Task MarkDatablocksAsync(NpgsqlConnection conn, NpgsqlTransaction tx, List<Candidate> candidates, CancellationToken ct)
    {
        var blocks = candidates.Where(c => c.Dataset is not null).Select(c => c.DirId).Distinct().ToArray();
        return blocks.Length == 0 ? Task.CompletedTask : DatasetStore.MarkBlocksAsync(conn, tx, blocks, ct);
    }

    private static async Task<List<Candidate>> CheckMetadataAsync(NpgsqlConnection conn, NpgsqlTransaction tx, List<Candidate> candidates,
        RegisterResult?[] results, CancellationToken ct)
    {
        var withValues = candidates.Where(c => c.Values is { Count: > 0 }).ToList();
        if (withValues.Count == 0) return candidates;
        var schemas = await Metadata.AttributeSchema.LoadAsync(conn, tx, withValues.Select(c => c.Path.Parent), ct);
        foreach (var c in withValues)
        {
            if (c.Values!.Any(kv => kv.Value is null))
            {
                results[c.Index] = Failed(c, new ItemError(ErrorCode.InvalidArgument, $"metadata.{c.Values!.First(kv => kv.Value is null).Key}: null is not a value", "metadata"));
                continue;
            }
            if (schemas[c.Path.Parent].Check(c.Values!, AttributeTarget.Files, "metadata", out var normalized) is { } error)
                results[c.Index] = Failed(c, error with { Field = error.Field });
            else c.Metadata = normalized.ToJsonString();
        }
        return candidates.Where(c => results[c.Index] is null).ToList();
    }

    /// <summary>Parent LFN -> file id; an item with an unknown parent fails whole (no partial links).</summary>
    private static async Task<Dictionary<string, long>> ResolveParentsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, List<Candidate> candidates,
        RegisterResult?[] results, CancellationToken ct)
    {
        var wanted = candidates.SelectMany(c => c.Parents).DistinctBy(p => p.Path).ToList();
        if (wanted.Count == 0) return [];
        var ids = (await FileStore.GetByLfnsAsync(conn, tx, wanted.Select(p => p.Parent).ToArray(), wanted.Select(p => p.Name).ToArray(), ct))
            .ToDictionary(kv => kv.Key, kv => kv.Value.Id, StringComparer.Ordinal);
        foreach (var c in candidates)
        {
            if (c.Parents.Any(p => p.Path == c.Path.Path))
                results[c.Index] = Failed(c, new ItemError(ErrorCode.InvalidArgument, "a file cannot be its own parent", "parents"));
            else if (c.Parents.Find(p => !ids.ContainsKey(p.Path)) is { Path: not null } missing)
                results[c.Index] = Failed(c, new ItemError(ErrorCode.NotFound, $"parent '{missing.Path}' is not registered", "parents"));
        }
        return ids;
    }

    private static Task LinkParentsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, List<Candidate> stored, Dictionary<string, long> parentIds, CancellationToken ct)
    {
        var links = stored.SelectMany(c => c.Parents.Select(p => (Child: c.FileId, Parent: parentIds[p.Path]))).ToList();
        return links.Count == 0 ? Task.CompletedTask : LineageStore.LinkAsync(conn, tx, links.Select(l => l.Child).ToArray(), links.Select(l => l.Parent).ToArray(), ct);
    }

    /// <summary>Marks skipped items identical (FileId set) or conflicting (result failed); answers the stored GUIDs.</summary>
    private static async Task<Dictionary<int, Guid>> ClassifyExistingAsync(NpgsqlConnection conn, NpgsqlTransaction tx,
        List<Candidate> skipped, RegisterResult?[] results, CancellationToken ct)
    {
        var rows = await FileStore.GetByNamesAsync(conn, tx,
            skipped.Select(c => c.DirId).ToArray(), skipped.Select(c => c.Path.Name).ToArray(), ct);
        var byName = rows.DistinctBy(r => r.Id).ToDictionary(r => (r.DirId, r.Name));
        var guids = new Dictionary<int, Guid>();
        var guidClashes = new List<Candidate>();
        foreach (var c in skipped)
        {
            if (!byName.TryGetValue((c.DirId, c.Path.Name), out var row)) { guidClashes.Add(c); continue; }
            var differences = Differences(c, row);
            if (differences.Count == 0) { c.FileId = row.Id; guids[c.Index] = row.Guid; continue; }
            results[c.Index] = Failed(c, new ItemError(ErrorCode.Conflict,
                $"'{c.Path.Path}' is already registered with another {string.Join(", ", differences)}", "lfn"));
        }
        if (guidClashes.Count > 0)
        {
            var holders = (await FileStore.GetByGuidsAsync(conn, tx, guidClashes.Select(c => c.Guid).ToArray(), ct))
                .ToDictionary(h => h.Guid, h => h.DirPath + "/" + h.Name);
            foreach (var c in guidClashes)
                results[c.Index] = Failed(c, holders.TryGetValue(c.Guid, out var lfn)
                    ? new ItemError(ErrorCode.Conflict, $"guid {c.Guid} is already used by '{lfn}'", "guid")
                    : new ItemError(ErrorCode.Conflict, "a concurrent change touched this file; retry", "lfn"));
        }
        return guids;
    }

    private static List<string> Differences(Candidate c, FileRow row)
    {
        var differences = new List<string>();
        if (c.GuidGiven && c.Guid != row.Guid) differences.Add("guid");
        if (c.Size != row.Size) differences.Add("size");
        if (c.Adler32 != row.Adler32) differences.Add("adler32");
        if (c.Md5 is not null && row.Md5 is not null && !Convert.FromHexString(c.Md5).AsSpan().SequenceEqual(row.Md5)) differences.Add("md5");
        return differences;
    }

    private List<Candidate> Validate(IReadOnlyList<NewFile?> files, Dictionary<string, StorageElementRow> ses, RegisterResult?[] results)
    {
        var candidates = new List<Candidate>(files.Count);
        var firstByLfn = new Dictionary<string, int>(StringComparer.Ordinal);
        var firstByGuid = new Dictionary<Guid, int>();
        for (var i = 0; i < files.Count; i++)
        {
            var error = ValidateOne(i, files[i], ses, out var candidate);
            var key = candidate is null ? "" : candidate.Dataset is { } ds ? ds.Path + "//" + candidate.Path.Name : candidate.Path.Path;
            if (error is null && !firstByLfn.TryAdd(key, i))
                error = new ItemError(ErrorCode.Conflict, $"files[{i}].lfn: the same LFN is at files[{firstByLfn[key]}]", $"files[{i}].lfn");
            if (error is null && candidate!.GuidGiven && !firstByGuid.TryAdd(candidate.Guid, i))
                error = new ItemError(ErrorCode.Conflict, $"files[{i}].guid: the same GUID is at files[{firstByGuid[candidate.Guid]}]", $"files[{i}].guid");
            if (error is null) candidates.Add(candidate!);
            else results[i] = new RegisterResult(i, files[i]?.Lfn, ItemStatus.Failed, Error: error);
        }
        return candidates;
    }

    private ItemError? ValidateOne(int i, NewFile? file, Dictionary<string, StorageElementRow> ses, out Candidate? candidate)
    {
        candidate = null;
        var at = $"files[{i}]";
        if (file is null) return Invalid(at, "is required");
        LfnPath? dataset = null;
        LfnPath path;
        if (file.Dataset is not null)
        {
            // Into a dataset: the LFN is just the file's name; the datablock is chosen when stored.
            if (!Lfn.TryParse(file.Dataset, options.Value.Roots, out var ds, out var dsError, $"{at}.dataset")) return dsError;
            if (file.Lfn is null || file.Lfn.Contains('/')) return Invalid($"{at}.lfn", "must be a bare file name when a dataset is given");
            if (!Lfn.TryParse($"{ds.Path}/sub00/{file.Lfn}", options.Value.Roots, out path, out var nameError, $"{at}.lfn")) return nameError;
            dataset = ds;
        }
        else
        {
            if (!Lfn.TryParse(file.Lfn, options.Value.Roots, out path, out var lfnError, $"{at}.lfn")) return lfnError;
            if (path.IsRoot) return new ItemError(ErrorCode.InvalidLfn, $"{at}.lfn is a root, not a file", $"{at}.lfn");
        }
        var parents = new List<LfnPath>();
        var parentList = file.Parents ?? [];
        if (parentList.Count > 1000) return Invalid($"{at}.parents", "must hold at most 1000 LFNs");
        for (var j = 0; j < parentList.Count; j++)
        {
            if (!Lfn.TryParse(parentList[j], options.Value.Roots, out var parent, out var parentError, $"{at}.parents[{j}]")) return parentError;
            if (dataset is null && parent.Path == path.Path) return Invalid($"{at}.parents[{j}]", "names the file itself: a file cannot be its own parent");
            parents.Add(parent);
        }
        if (file.Size is not { } size) return Invalid($"{at}.size", "is required");
        if (size < 0) return Invalid($"{at}.size", "must not be negative");
        if (file.Adler32 is null) return Invalid($"{at}.adler32", "is required");
        if (!Mapping.TryParseAdler32(file.Adler32, out var adler)) return Invalid($"{at}.adler32", "must be 8 hex digits");
        if (file.Md5 is not null && !Mapping.IsMd5(file.Md5)) return Invalid($"{at}.md5", "must be 32 hex digits");
        if (file.Guid == Guid.Empty) return Invalid($"{at}.guid", "must not be the empty GUID");

        var replicas = new List<NewReplicaRow>();
        var replicaList = file.Replicas ?? [];
        for (var j = 0; j < replicaList.Count; j++)
        {
            var error = ValidateReplica($"{at}.replicas[{j}]", replicaList[j], ses, out var row);
            if (error is not null) return error;
            if (replicas.Any(r => r.SeId == row!.SeId)) return Invalid($"{at}.replicas[{j}].se", "names the same SE twice");
            replicas.Add(row!);
        }
        candidate = new Candidate(i, path, file.Guid ?? Guid.CreateVersion7(), file.Guid is not null, size, adler,
            file.Md5?.ToLowerInvariant(), file.Metadata, replicas, dataset, parents.Distinct().ToList());
        return null;
    }

    /// <summary>Checks one replica against the SE registry: the wrong-destination-SE mistake stops here.</summary>
    internal static ItemError? ValidateReplica(string at, NewReplica? replica, IReadOnlyDictionary<string, StorageElementRow> ses, out NewReplicaRow? row)
    {
        row = null;
        if (replica is null) return Invalid(at, "is required");
        if (string.IsNullOrEmpty(replica.Se)) return Invalid($"{at}.se", "is required");
        if (!ses.TryGetValue(replica.Se, out var se))
            return new ItemError(ErrorCode.UnknownStorageElement, $"{at}.se: storage element '{replica.Se}' is not registered", $"{at}.se");
        if (!se.WriteEnabled)
            return new ItemError(ErrorCode.StorageElementWriteDisabled, $"{at}.se: storage element '{replica.Se}' does not accept writes", $"{at}.se");
        if (replica.Pfn is not null && (replica.Pfn.Length is 0 or > 2048 || replica.Pfn.Any(char.IsControl)))
            return Invalid($"{at}.pfn", "must be 1 to 2048 characters without control characters");
        row = new NewReplicaRow(0, se.Id, (short)(replica.State ?? ReplicaState.Available), replica.Pfn);
        return null;
    }

    private static List<Candidate> Keep(List<Candidate> candidates, RegisterResult?[] results, Func<Candidate, bool> keep, Func<Candidate, ItemError> error)
    {
        var kept = new List<Candidate>(candidates.Count);
        foreach (var c in candidates)
        {
            if (keep(c)) kept.Add(c);
            else results[c.Index] = Failed(c, error(c));
        }
        return kept;
    }

    private static RegisterResult Failed(Candidate c, ItemError error) =>
        new(c.Index, c.Path.Path, ItemStatus.Failed, Error: error with { Field = $"files[{c.Index}].{error.Field}" });

    private static ItemError Invalid(string field, string rule) => new(ErrorCode.InvalidArgument, $"{field} {rule}", field);

    private static RegisterResponse Summarize(RegisterResult[] results) => new(results,
        results.Count(r => r.Status == ItemStatus.Created),
        results.Count(r => r.Status == ItemStatus.Exists),
        results.Count(r => r.Status == ItemStatus.Failed));
}
