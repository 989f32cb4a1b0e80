using System.Text.Json;
using Catalog.Api.Errors;
using Catalog.Api.Hosting;
using Catalog.Api.Http;
using Catalog.Api.Namespace;
using Catalog.Api.Security;
using Catalog.Api.StorageElements;
using Catalog.Contracts;
using Catalog.Storage;
using Npgsql;

namespace Catalog.Api.Files;

/// <summary>
/// The writing of registrations: requests (one, or many small ones sharing a transaction) run in
/// one transaction with their idempotency keys, stored with one set of statements (datablocks,
/// directories, files, replicas, metadata, lineage, dataset attachment), then the cache is told,
/// before anyone is answered. Nothing in a batch can fail the transaction: every insert skips
/// what is taken and is classified afterwards, so each file is stored whole or not at all while
/// its neighbours still go in.
/// </summary>
public sealed class RegistrationWriter(Db db, Access access, HotCache cache)
{
    /// <summary>One registration request, parsed (<see cref="RegistrationValidator.Parse"/>) and permitted.</summary>
    public sealed record Work(IReadOnlyList<NewFile?> Files, ParsedFile?[] Parsed, ItemError?[] ParseErrors, string? Key, byte[]? Hash, Caller Caller)
    {
        /// <summary>Requests for one dataset (or directory) share a coalescer lane, so lanes never wait on each other's locks.</summary>
        public string Partition => Parsed.Length > 0 && Parsed[0] is { } p ? p.Dataset?.Path ?? p.Path.Parent : "";
    }

    /// <summary>A request's answer, or why it was refused as a whole.</summary>
    public readonly record struct Outcome(RegisterResponse? Response, Exception? Error);

    /// <summary>
    /// A batch in a transaction of its own, with its missing directories made first in a short
    /// transaction before it. Whoever makes a directory holds its parent <c>for update</c> until
    /// commit (DirectoryStore's name protocol); inside the batch's transaction that serialized
    /// every batch that opened a datablock under one dataset: with 4 batches of 1,000 in flight,
    /// 77 s of the 114 s they spent in PostgreSQL over a 200,000-file run was that wait.
    /// </summary>
    public async Task<RegisterResponse> WriteAsync(Work work, CancellationToken ct)
    {
        await MakeDirectoriesAsync(work, ct);
        var outcome = (await WriteManyAsync([work], ct))[0];
        return outcome.Error is { } error ? throw error : outcome.Response!;
    }

    /// <summary>
    /// Requests in one shared transaction, each answered as if it ran alone; after the commit the
    /// cache forgets what they changed, once for all. The coalescer is fed with this.
    /// </summary>
    public async Task<Outcome[]> WriteManyAsync(IReadOnlyList<Work> works, CancellationToken ct)
    {
        var outcomes = await db.WriteAsync((conn, tx) => ProcessManyAsync(conn, tx, works, ct), ct);
        var stored = outcomes.Where(o => o.Response is not null).SelectMany(o => o.Response!.Results)
            .Where(r => r.Status is ItemStatus.Created or ItemStatus.Exists).ToList();
        await cache.FilesRegisteredAsync(stored.Select(r => r.Lfn!).ToList(),
            stored.Where(r => r.Status == ItemStatus.Exists && r.ReplicasAdded > 0).Select(r => r.Lfn!).ToList());
        return outcomes;
    }

    /// <summary>
    /// Many small registrations in one transaction as if each ran alone, but stored together:
    /// one placement per dataset, one insert of all files, one of all replicas. Each request keeps
    /// its own idempotency key, permission check, per-file answers and field names.
    /// </summary>
    private async Task<Outcome[]> ProcessManyAsync(NpgsqlConnection conn, NpgsqlTransaction tx, IReadOnlyList<Work> works, CancellationToken ct)
    {
        var outcomes = new Outcome[works.Count];
        var ses = await SeRegistry.ReadAsync(conn, tx, ct);

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
        // A replay answers only a caller who may still write where the first answer stored: modes
        // may have changed since (its scopes were checked before it got here).
        var replayed = earlier.Keys.Select(k => holder[k]).Where(i => !works[i].Caller.BypassesModes).ToList();
        if (replayed.Count > 0)
        {
            static IEnumerable<LfnPath> DirsOf(Work w) => w.Parsed.OfType<ParsedFile>().Select(p => p.Dataset ?? p.Path.ParentPath());
            var replayChains = await DirectoryTree.LoadChainsAsync(conn, tx, replayed.SelectMany(i => DirsOf(works[i])), ct);
            foreach (var i in replayed)
                try { DirectoryTree.DemandWritable(replayChains, DirsOf(works[i]), works[i].Caller, access, "files"); }
                catch (CatalogException e) { outcomes[i] = new Outcome(null, e); }
        }

        // w on the target directories, per request, against chains read once for the whole batch.
        var candidatesOf = new List<ValidFile>?[works.Count];
        var offsets = new int[works.Count];
        var total = 0;
        for (var i = 0; i < works.Count; i++) { offsets[i] = total; total += works[i].Files.Count; }
        var results = new RegisterResult?[total];
        for (var i = 0; i < works.Count; i++)
        {
            if (skip[i]) continue;
            var local = new RegisterResult?[works[i].Files.Count];
            candidatesOf[i] = RegistrationValidator.Validate(works[i].Files, works[i].Parsed, works[i].ParseErrors, ses, local);
            Array.Copy(local, 0, results, offsets[i], local.Length);
        }
        var bound = Enumerable.Range(0, works.Count).Where(i => candidatesOf[i] is not null && !works[i].Caller.BypassesModes).ToList();
        var chains = bound.Count == 0 ? [] : await DirectoryTree.LoadChainsAsync(conn, tx,
            bound.SelectMany(i => candidatesOf[i]!.Select(c => c.Path.ParentPath())), ct);

        var groups = new Dictionary<string, (Caller Caller, List<ValidFile> Candidates, List<int> Works)>(StringComparer.Ordinal);
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
                outcomes[i] = new Outcome(null, e);
                continue;
            }
            var identity = $"{work.Caller.Subject}\n{string.Join(',', work.Caller.Groups)}\n{string.Join(',', work.Caller.Roles.Order())}";
            if (!groups.TryGetValue(identity, out var group)) groups[identity] = group = (work.Caller, [], []);
            group.Candidates.AddRange(candidates.Select(c => c with { Index = offsets[i] + c.Index }));
            group.Works.Add(i);
        }
        var completed = new List<(string Key, RegisterResponse Answer)>();
        foreach (var (caller, candidates, members) in groups.Values)
        {
            try
            {
                await StoreAsync(conn, tx, candidates, results, caller, ct);
            }
            catch (CatalogException e)
            {
                foreach (var i in members) outcomes[i] = new Outcome(null, e);
                continue;
            }
            foreach (var i in members)
            {
                var slice = new RegisterResult[works[i].Files.Count];
                for (var k = 0; k < slice.Length; k++) slice[k] = Localize(results[offsets[i] + k]!, offsets[i] + k, k);
                var response = Summarize(slice);
                if (works[i].Key is { } key) completed.Add((key, response));
                outcomes[i] = new Outcome(response, null);
            }
        }
        await CompleteKeysAsync(conn, tx, completed, ct);
        // A refused request leaves no half-claimed key behind: a retry starts afresh.
        await IdempotencyStore.ReleaseAsync(conn, tx,
            holder.Where(h => !earlier.ContainsKey(h.Key) && outcomes[h.Value].Error is not null).Select(h => h.Key).ToArray(), ct);
        foreach (var (i, first) in repeats)
        {
            var key = works[i].Key!;
            outcomes[i] = earlier.TryGetValue(key, out var stored) ? Replay(stored, works[i].Hash!)
                : outcomes[first].Error is { } error ? new Outcome(null, error)
                : works[i].Hash.AsSpan().SequenceEqual(works[first].Hash) ? outcomes[first] : new Outcome(null, KeyReused());
        }
        return outcomes;
    }

    /// <summary>
    /// Completed keys with their answers. A batch of its own stores its (possibly large) answer from
    /// pooled UTF-8 bytes: a 1,000-file answer is about 250 kB, and as a string it went onto the
    /// large-object heap (BENCHMARKS, fourth session); a shared transaction's many small answers go as strings in one statement.
    /// </summary>
    private static async Task CompleteKeysAsync(NpgsqlConnection conn, NpgsqlTransaction tx, List<(string Key, RegisterResponse Answer)> completed, CancellationToken ct)
    {
        if (completed.Count == 1)
        {
            using var answer = PooledJson.Serialize(completed[0].Answer, CatalogJson.Options);
            await IdempotencyStore.CompleteAsync(conn, tx, completed[0].Key, answer.Memory, ct);
        }
        else await IdempotencyStore.CompleteManyAsync(conn, tx, completed.Select(c => c.Key).ToArray(),
            completed.Select(c => JsonSerializer.Serialize(c.Answer, CatalogJson.Options)).ToArray(), ct);
    }

    /// <summary>A request whose key was claimed before: the stored answer when it is the same request, else a refusal.</summary>
    private static Outcome Replay((byte[] Hash, string? Response) stored, byte[] hash) =>
        stored.Hash.AsSpan().SequenceEqual(hash)
            ? new Outcome(JsonSerializer.Deserialize<RegisterResponse>(stored.Response!, CatalogJson.Options), null)
            : new Outcome(null, KeyReused());

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

    /// <summary>
    /// Stores validated items whose caller was already checked for w on their target directories:
    /// datablocks, schema and parents, directories, files, then replicas and lineage links.
    /// </summary>
    private async Task StoreAsync(NpgsqlConnection conn, NpgsqlTransaction tx, List<ValidFile> candidates,
        RegisterResult?[] results, Caller caller, CancellationToken ct)
    {
        if (candidates.Count == 0) return;

        // 0. Files registered into a dataset get their datablock (or the LFN they already have, for a retry).
        candidates = await PlaceInDatasetsAsync(conn, tx, candidates, results, ct);
        if (candidates.Count == 0) return;

        // 1. Metadata against the schema in force at each target directory (path-based: it holds for a
        // directory not made yet), and parents must exist: both before any directory is made, so an
        // item that fails leaves no directory behind.
        candidates = await CheckMetadataAsync(conn, tx, candidates, results, ct);
        candidates = await RefuseClosedDatasetsAsync(conn, tx, candidates, results, ct);
        var parentIds = await ResolveParentsAsync(conn, tx, candidates, results, caller, ct);
        candidates = candidates.Where(c => results[c.Index] is null).ToList();
        if (candidates.Count == 0) return;

        // 1b. Directories: w where creation happens, then create what is missing; a name held by a file fails the items below it.
        var targetDirs = candidates.Select(c => c.Path.ParentPath()).Distinct().ToList();
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
        var skipped = new List<ValidFile>();
        foreach (var c in candidates)
        {
            // The first candidate of a name took the row; a later one of the same name (a shared
            // transaction can hold two requests for one LFN) is classified like a retry.
            if (insertedIds.Remove((c.DirId, c.Path.Name), out var id)) { c.FileId = id; created.Add(c.Index); }
            else skipped.Add(c);
        }
        var existing = skipped.Count == 0 ? [] : await ClassifyExistingAsync(conn, tx, skipped, results, caller, ct);

        // 4. Replicas of new files, and any missing ones of identical retries; lineage links likewise.
        var withReplicas = candidates.Where(c => c.FileId != 0).ToList();
        await LinkParentsAsync(conn, tx, withReplicas, parentIds, ct);
        // A new file's replicas are all new; only a retry's may be there already.
        var (fresh, retried) = (withReplicas.Where(c => created.Contains(c.Index)), withReplicas.Where(c => !created.Contains(c.Index)).ToList());
        static List<NewReplicaRow> Rows(IEnumerable<ValidFile> of) => of.SelectMany(c => c.Replicas.Select(r => r with { FileId = c.FileId })).ToList();
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
    private static async Task<List<ValidFile>> PlaceInDatasetsAsync(NpgsqlConnection conn, NpgsqlTransaction tx,
        List<ValidFile> candidates, RegisterResult?[] results, CancellationToken ct)
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
                // A closed dataset takes no new file (a retry of one it holds is answered above, as it was).
                if (dataset.State == 1)
                {
                    results[c.Index] = Failed(c, new ItemError(ErrorCode.Conflict, $"dataset '{group.Key}' is closed: it takes no more files (a data manager may reopen it)", "dataset"));
                    continue;
                }
                if (count >= dataset.MaxFiles) { block++; count = 0; }
                var target = $"{group.Key}/{DatasetStore.BlockName(block)}";
                c.Path = LfnPath.Of($"{target}/{c.Path.Name}", c.Path.Root);
                placed[c.Path.Name] = target; // a second request for the same name in this transaction lands on the same LFN
                count++;
            }
            // Only when a file was placed: a batch refused whole (a closed dataset) leaves the row as it was.
            if ((block, count) != (dataset.CurrentBlock, dataset.CurrentCount))
                await DatasetStore.SetCurrentAsync(conn, tx, dataset.DirId, block, count, ct);
        }
        return candidates.Where(c => results[c.Index] is null).ToList();
    }

    /// <summary>
    /// A file registered by its full LFN (without <c>dataset</c>) somewhere below a closed dataset is
    /// refused like one sent with <c>dataset</c>, before any directory is made for it; an identical
    /// retry of a file the dataset already holds is still answered as before.
    /// </summary>
    private static async Task<List<ValidFile>> RefuseClosedDatasetsAsync(NpgsqlConnection conn, NpgsqlTransaction tx,
        List<ValidFile> candidates, RegisterResult?[] results, CancellationToken ct)
    {
        var byLfn = candidates.Where(c => c.Dataset is null).ToList();
        if (byLfn.Count == 0) return candidates;
        var closed = await DatasetStore.ClosedAmongAsync(conn, tx,
            byLfn.SelectMany(c => Lfn.Ancestry(c.Path.Parent)).Distinct(StringComparer.Ordinal).ToArray(), ct);
        if (closed.Count == 0) return candidates;
        var inClosed = byLfn.Select(c => (File: c, Dataset: Lfn.Ancestry(c.Path.Parent).FirstOrDefault(closed.Contains)))
            .Where(x => x.Dataset is not null).ToList();
        var held = await FileStore.GetByLfnsAsync(conn, tx, inClosed.Select(x => x.File.Path.Parent).ToArray(), inClosed.Select(x => x.File.Path.Name).ToArray(), ct);
        var refused = inClosed.Where(x => !held.ContainsKey(x.File.Path.Path)).ToDictionary(x => x.File.Index, x => x.Dataset!);
        return Keep(candidates, results, c => !refused.ContainsKey(c.Index),
            c => new ItemError(ErrorCode.Conflict, $"dataset '{refused[c.Index]}' is closed: it takes no more files (a data manager may reopen it)", "lfn"));
    }

    private static Task MarkDatablocksAsync(NpgsqlConnection conn, NpgsqlTransaction tx, List<ValidFile> candidates, CancellationToken ct)
    {
        var blocks = candidates.Where(c => c.Dataset is not null).Select(c => c.DirId).Distinct().ToArray();
        return blocks.Length == 0 ? Task.CompletedTask : DatasetStore.MarkBlocksAsync(conn, tx, blocks, ct);
    }

    private static async Task<List<ValidFile>> CheckMetadataAsync(NpgsqlConnection conn, NpgsqlTransaction tx, List<ValidFile> candidates,
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
    /// <remarks>
    /// A parent the caller may not read (scope or mode) is answered exactly like a missing one:
    /// no link to what one cannot see, and no way to learn that it exists.
    /// </remarks>
    private async Task<Dictionary<string, long>> ResolveParentsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, List<ValidFile> candidates,
        RegisterResult?[] results, Caller caller, CancellationToken ct)
    {
        var wanted = candidates.SelectMany(c => c.Parents).DistinctBy(p => p.Path).ToList();
        if (wanted.Count == 0) return [];
        var found = await FileStore.GetByLfnsAsync(conn, tx, wanted.Select(p => p.Parent).ToArray(), wanted.Select(p => p.Name).ToArray(), ct);
        var gates = await Access.GatesAsync(conn, tx, caller, found.Keys.Select(ParentOf).Distinct(StringComparer.Ordinal), ct);
        var ids = found
            .Where(kv => access.Check(caller, Operation.Read, kv.Key) is null
                && Access.CanSee(caller, gates, ParentOf(kv.Key), kv.Value.Owner, kv.Value.Grp, kv.Value.Mode))
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

    private static string ParentOf(string lfn) => lfn[..lfn.LastIndexOf('/')];

    private static Task LinkParentsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, List<ValidFile> stored, Dictionary<string, long> parentIds, CancellationToken ct)
    {
        var links = stored.SelectMany(c => c.Parents.Select(p => (Child: c.FileId, Parent: parentIds[p.Path]))).ToList();
        return links.Count == 0 ? Task.CompletedTask : LineageStore.LinkAsync(conn, tx, links.Select(l => l.Child).ToArray(), links.Select(l => l.Parent).ToArray(), ct);
    }

    /// <summary>Marks skipped items identical (FileId set) or conflicting (result failed); answers the stored GUIDs.</summary>
    private async Task<Dictionary<int, Guid>> ClassifyExistingAsync(NpgsqlConnection conn, NpgsqlTransaction tx,
        List<ValidFile> skipped, RegisterResult?[] results, Caller caller, CancellationToken ct)
    {
        var rows = await FileStore.GetByNamesAsync(conn, tx,
            skipped.Select(c => c.DirId).ToArray(), skipped.Select(c => c.Path.Name).ToArray(), ct);
        var byName = rows.DistinctBy(r => r.Id).ToDictionary(r => (r.DirId, r.Name));
        var guids = new Dictionary<int, Guid>();
        var guidClashes = new List<ValidFile>();
        foreach (var c in skipped)
        {
            if (!byName.TryGetValue((c.DirId, c.Path.Name), out var row)) { guidClashes.Add(c); continue; }
            var differences = Differences(c, row);
            if (differences.Count == 0)
            {
                // An identical file gains the item's missing replicas and lineage: only whoever may write it (w on the file).
                if (access.CheckMode(caller, Operation.Create, row.Owner, row.Grp, row.Mode, c.Path.Path) is { } refused)
                    results[c.Index] = Failed(c, refused with { Field = "lfn" });
                else (c.FileId, guids[c.Index]) = (row.Id, row.Guid);
                continue;
            }
            results[c.Index] = Failed(c, new ItemError(ErrorCode.Conflict,
                $"'{c.Path.Path}' is already registered with another {string.Join(", ", differences)}", "lfn"));
        }
        if (guidClashes.Count > 0)
        {
            var holders = (await FileStore.GetByGuidsAsync(conn, tx, guidClashes.Select(c => c.Guid).ToArray(), ct)).ToDictionary(h => h.Guid);
            var gates = await Access.GatesAsync(conn, tx, caller, holders.Values.Select(h => h.DirPath).Distinct(StringComparer.Ordinal), ct);
            foreach (var c in guidClashes)
                results[c.Index] = Failed(c, holders.TryGetValue(c.Guid, out var h)
                    // The holder is named only to a caller who may see it: a GUID must not tell where a hidden file lives.
                    ? new ItemError(ErrorCode.Conflict, access.Check(caller, Operation.Read, h.DirPath + "/" + h.Name) is null
                        && Access.CanSee(caller, gates, h.DirPath, h.Owner, h.Grp, h.Mode)
                        ? $"guid {c.Guid} is already used by '{h.DirPath}/{h.Name}'" : $"guid {c.Guid} is already used by another file", "guid")
                    : new ItemError(ErrorCode.Conflict, "a concurrent change touched this file; retry", "lfn"));
        }
        return guids;
    }

    private static List<string> Differences(ValidFile c, FileRow row)
    {
        var differences = new List<string>();
        if (c.GuidGiven && c.Guid != row.Guid) differences.Add("guid");
        if (c.Size != row.Size) differences.Add("size");
        if (c.Adler32 != row.Adler32) differences.Add("adler32");
        if (c.Md5 is not null && row.Md5 is not null && !Convert.FromHexString(c.Md5).AsSpan().SequenceEqual(row.Md5)) differences.Add("md5");
        return differences;
    }

    /// <summary>
    /// Before a batch's own transaction: makes the directories that the batch's valid items would create, and only those: a directory
    /// is made only for an item that is validated, checked against the schema and its parents, and
    /// allowed by w, as the batch's own transaction will do again, so a refused request or item
    /// leaves no directory behind. One such item per missing directory is enough, so a datablock's
    /// 1,000 files are not all validated twice (that was a tenth of the server's CPU in a bulk run).
    /// A keyed request seen before makes nothing (a replay or a reused key). Whatever this skips
    /// (a lock it cannot get within a second, a refusal) the batch's transaction still does itself.
    /// </summary>
    private async Task MakeDirectoriesAsync(Work work, CancellationToken ct)
    {
        // The directories the batch names (parsed already); files into a dataset are left out (they
        // get their datablock under the dataset's own lock, which already orders them).
        var paths = work.Parsed.Select(p => p?.Directory).OfType<string>().Distinct(StringComparer.Ordinal).ToArray();
        if (paths.Length == 0) return;

        await using var conn = await db.OpenAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var existing = await DirectoryStore.GetIdsAsync(conn, tx, paths, ct);
        if (existing.Count == paths.Length) return;   // the usual case: nothing to make
        if (work.Key is not null && await IdempotencyStore.ExistsAsync(conn, tx, work.Key, ct)) return;

        // The first valid item of each missing directory stands for it.
        var ses = await SeRegistry.ReadAsync(conn, tx, ct);
        var results = new RegisterResult?[work.Files.Count];
        var representatives = new Dictionary<string, ValidFile>(StringComparer.Ordinal);
        foreach (var parsed in work.Parsed)
        {
            if (parsed?.Directory is not { } dir || existing.ContainsKey(dir) || representatives.ContainsKey(dir)) continue;
            if (RegistrationValidator.CheckReplicas(parsed, ses, out var valid) is null) representatives[dir] = valid!;
        }
        var candidates = await CheckMetadataAsync(conn, tx, representatives.Values.ToList(), results, ct);
        await ResolveParentsAsync(conn, tx, candidates, results, work.Caller, ct);
        var dirs = candidates.Where(c => results[c.Index] is null).Select(c => c.Path.ParentPath()).ToList();
        if (dirs.Count == 0) return;
        try
        {
            await DirectoryTree.DemandWritableAsync(conn, tx, dirs, work.Caller, access, "files", ct);
        }
        catch (CatalogException)
        {
            return; // the batch's transaction refuses it, with the same answer
        }
        await DirectoryStore.SetLockTimeoutAsync(conn, tx, TimeSpan.FromSeconds(1), ct);
        try
        {
            await DirectoryTree.EnsureAsync(conn, tx, dirs, work.Caller.User, null, ct);
            await tx.CommitAsync(ct);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.LockNotAvailable or PostgresErrorCodes.DeadlockDetected
                                             or PostgresErrorCodes.ForeignKeyViolation)
        {
            // Left to the batch's transaction, which waits for the lock as long as it takes.
        }
    }

    private static List<ValidFile> Keep(List<ValidFile> candidates, RegisterResult?[] results, Func<ValidFile, bool> keep, Func<ValidFile, ItemError> error)
    {
        var kept = new List<ValidFile>(candidates.Count);
        foreach (var c in candidates)
        {
            if (keep(c)) kept.Add(c);
            else results[c.Index] = Failed(c, error(c));
        }
        return kept;
    }

    private static RegisterResult Failed(ValidFile c, ItemError error) =>
        new(c.Index, c.Path.Path, ItemStatus.Failed, Error: error with { Field = $"files[{c.Index}].{error.Field}" });

    private static RegisterResponse Summarize(RegisterResult[] results) => new(results,
        results.Count(r => r.Status == ItemStatus.Created),
        results.Count(r => r.Status == ItemStatus.Exists),
        results.Count(r => r.Status == ItemStatus.Failed));
}
