using System.Runtime.CompilerServices;
using Catalog.Api.Audit;
using Catalog.Api.Errors;
using Catalog.Api.Files;
using Catalog.Api.Hosting;
using Catalog.Api.Http;
using Catalog.Api.Namespace;
using Catalog.Api.Security;
using Catalog.Api.StorageElements;
using Catalog.Contracts;
using Catalog.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Catalog.Api.Replicas;

/// <summary>Replicas of registered files: add, remove, set state, and the LFN -> replicas lookups.</summary>
public sealed class ReplicaService(Db db, FileService files, IOptions<CatalogOptions> options, Access access, AuditLog audit, HotCache cache,
    StorageElements.StorageElementService storageElements)
{
    private IReadOnlyList<string> Roots => options.Value.Roots;

    /// <summary>
    /// The replicas of one LFN: by default only those a job can read (available, on a read-enabled
    /// SE), as Rucio's and DIRAC's lookups answer; <paramref name="all"/> shows every state.
    /// </summary>
    public async Task<IReadOnlyList<Replica>> ListAsync(string? lfn, bool all, string? seExpression, Caller caller, CancellationToken ct)
    {
        var onSes = await storageElements.MatchingAsync(seExpression, "se", ct);
        var replicas = (await files.GetAsync(lfn, caller, ct)).Replicas.Where(r => onSes is null || onSes.Contains(r.Se)).ToList();
        if (all || replicas.Count == 0) return replicas;
        var ses = await RegistryAsync(ct);
        return replicas.Where(r => Usable(r.State, ses.TryGet(r.Se, out var se) ? se : null)).ToList();
    }

    /// <summary>The SEs a lookup's <c>se</c> expression selects (null: any), worked out before its stream starts so a bad one is a 400.</summary>
    public Task<IReadOnlySet<string>?> SesForAsync(LookupRequest request, CancellationToken ct) => storageElements.MatchingAsync(request.Se, "se", ct);

    /// <summary>A replica a reader can use: available, on an SE open for reading.</summary>
    private static bool Usable(ReplicaState state, StorageElementRow? se) => state == ReplicaState.Available && se is { ReadEnabled: true };

    /// <summary>Adds replicas per item. An LFN that is not registered fails its item: a replica never creates a file.</summary>
    public Task<ReplicaResponse> AddAsync(AddReplicasRequest request, Caller caller, CancellationToken ct) =>
        ApplyAsync(request.Replicas, "replica.add", Operation.Create, caller, forWrite: true, ct, async (conn, tx, items) =>
        {
            var added = (await ReplicaStore.AddAsync(conn, tx, items.Select(i => i.Row).ToList(), ct)).ToHashSet();
            return items.Select(i => (i.Index, added.Contains((i.Row.FileId, i.Row.SeId)) ? ReplicaOutcome.Added : ReplicaOutcome.Exists));
        });

    /// <summary>Removes replicas per item; removing one that is gone succeeds. The file stays, even with no replica left.</summary>
    public Task<ReplicaResponse> RemoveAsync(RemoveReplicasRequest request, Caller caller, CancellationToken ct) =>
        ApplyAsync(request.Replicas, "replica.remove", Operation.Modify, caller, forWrite: false, ct, async (conn, tx, items) =>
        {
            var removed = (await ReplicaStore.RemoveAsync(conn, tx, items.Select(i => i.Row.FileId).ToArray(),
                items.Select(i => i.Row.SeId).ToArray(), ct)).ToHashSet();
            return items.Select(i => (i.Index, removed.Contains((i.Row.FileId, i.Row.SeId)) ? ReplicaOutcome.Removed : ReplicaOutcome.Absent));
        }, absentFileOutcome: ReplicaOutcome.Absent);

    public Task<ReplicaResponse> SetStateAsync(SetReplicaStateRequest request, Caller caller, CancellationToken ct) =>
        ApplyAsync(request.Replicas, "replica.state", Operation.Modify, caller, forWrite: false, ct, async (conn, tx, items) =>
        {
            var updated = (await ReplicaStore.SetStateAsync(conn, tx, items.Select(i => i.Row.FileId).ToArray(),
                items.Select(i => i.Row.SeId).ToArray(), items.Select(i => i.Row.State).ToArray(), ct)).ToHashSet();
            return items.Select(i => (i.Index, updated.Contains((i.Row.FileId, i.Row.SeId)) ? ReplicaOutcome.Updated : ReplicaOutcome.Failed));
        }, requireState: true);

    private sealed record Item(int Index, string Lfn, string Se, NewReplicaRow Row);

    /// <summary>Validates items, resolves LFNs to file ids in one query, then runs one set-based statement.</summary>
    private async Task<ReplicaResponse> ApplyAsync(IReadOnlyList<ReplicaRef?>? refs, string action, Operation op, Caller caller, bool forWrite,
        CancellationToken ct, Func<NpgsqlConnection, NpgsqlTransaction, List<Item>, Task<IEnumerable<(int Index, ReplicaOutcome Outcome)>>> apply,
        ReplicaOutcome? absentFileOutcome = null, bool requireState = false)
    {
        if (refs is null) throw CatalogException.Invalid("replicas", "is required");
        if (refs.Count > options.Value.MaxBatchSize)
            throw CatalogException.TooMany("replicas", options.Value.MaxBatchSize, "request", "Catalog:MaxBatchSize");
        // Permission is all or nothing: a request reaching outside the caller's scopes changes nothing.
        for (var i = 0; i < refs.Count; i++)
            if (refs[i] is { } r && Lfn.TryParse(r.Lfn, Roots, out var p, out _, $"replicas[{i}].lfn"))
                access.Demand(caller, op, p.Path, $"replicas[{i}].lfn");

        var response = await db.WriteAsync(async (conn, tx) =>
        {
            var results = new ReplicaResult?[refs.Count];
            var ses = await SeRegistry.ReadAsync(conn, tx, ct);
            var parsed = new List<(int Index, LfnPath Path, string Se, NewReplicaRow Row)>();
            for (var i = 0; i < refs.Count; i++)
            {
                var r = refs[i];
                var at = $"replicas[{i}]";
                ItemError? error = null;
                NewReplicaRow? row = null;
                LfnPath path = default;
                if (r is null) error = new ItemError(ErrorCode.InvalidArgument, $"{at} is required", at);
                else if (!Lfn.TryParse(r.Lfn, Roots, out path, out error, $"{at}.lfn")) { }
                else if (requireState && r.State is null) error = new ItemError(ErrorCode.InvalidArgument, $"{at}.state is required", $"{at}.state");
                else if (forWrite) error = ses.ValidateNewReplica(at, new NewReplica(r.Se, r.Pfn, r.State), out row);
                else if (string.IsNullOrEmpty(r.Se)) error = new ItemError(ErrorCode.InvalidArgument, $"{at}.se is required", $"{at}.se");
                else if (!ses.TryGet(r.Se, out var se))
                    error = new ItemError(ErrorCode.UnknownStorageElement, $"{at}.se: storage element '{r.Se}' is not registered", $"{at}.se");
                else row = new NewReplicaRow(0, se.Id, (short)(r.State ?? ReplicaState.Available), null);

                if (error is null) parsed.Add((i, path, r!.Se!, row!));
                else results[i] = new ReplicaResult(i, r?.Lfn, r?.Se, ReplicaOutcome.Failed, error);
            }

            var known = parsed.DistinctBy(p => p.Path.Path).ToList();
            var fileRows = await FileStore.GetByLfnsAsync(conn, tx, known.Select(p => p.Path.Parent).ToArray(), known.Select(p => p.Path.Name).ToArray(), ct);
            // Readers and producers also need w on the file itself (its owner, group and mode);
            // a file they may not see is, to them, not registered.
            if (!caller.BypassesModes)
            {
                var gates = await Access.GatesAsync(conn, tx, caller, known.Select(p => p.Path.Parent).Distinct(StringComparer.Ordinal), ct);
                foreach (var p in known)
                    if (fileRows.TryGetValue(p.Path.Path, out var f) && !Access.CanSee(caller, gates, p.Path.Parent, f.Owner, f.Grp, f.Mode))
                        fileRows.Remove(p.Path.Path);
                foreach (var (lfn, f) in fileRows) access.DemandMode(caller, op, f.Owner, f.Grp, f.Mode, lfn, "replicas");
            }

            var items = new List<Item>();
            foreach (var p in parsed)
            {
                if (fileRows.TryGetValue(p.Path.Path, out var file))
                    items.Add(new Item(p.Index, p.Path.Path, p.Se, p.Row with { FileId = file.Id }));
                else
                    results[p.Index] = absentFileOutcome is { } outcome
                        ? new ReplicaResult(p.Index, p.Path.Path, p.Se, outcome)
                        : new ReplicaResult(p.Index, p.Path.Path, p.Se, ReplicaOutcome.Failed,
                            new ItemError(ErrorCode.NotFound, $"replicas[{p.Index}].lfn: file '{p.Path.Path}' is not registered", $"replicas[{p.Index}].lfn"));
            }
            // One item per (file, SE): a repeat in the same request is answered like its first.
            var distinct = items.DistinctBy(i => (i.Row.FileId, i.Row.SeId)).ToList();
            var keyOf = distinct.ToDictionary(d => d.Index, d => (d.Row.FileId, d.Row.SeId));
            var outcomes = (await apply(conn, tx, distinct)).ToDictionary(o => keyOf[o.Index], o => o.Outcome);
            foreach (var item in items)
            {
                var outcome = outcomes[(item.Row.FileId, item.Row.SeId)];
                results[item.Index] = outcome == ReplicaOutcome.Failed
                    ? new ReplicaResult(item.Index, item.Lfn, item.Se, outcome,
                        new ItemError(ErrorCode.NotFound, $"replicas[{item.Index}]: no replica of '{item.Lfn}' on '{item.Se}'", $"replicas[{item.Index}]"))
                    : new ReplicaResult(item.Index, item.Lfn, item.Se, outcome);
            }
            return new ReplicaResponse(results!);
        }, ct);
        var changed = response.Results.Where(r => r.Outcome is ReplicaOutcome.Added or ReplicaOutcome.Removed or ReplicaOutcome.Updated).Select(r => r.Lfn!).ToList();
        await cache.FilesChangedAsync(changed);
        await audit.RecordManyAsync(caller, action, response.Results.Select(r => (r.Lfn, Mapping.Wire(r.Outcome),
            (System.Text.Json.Nodes.JsonObject?)new System.Text.Json.Nodes.JsonObject { ["se"] = r.Se, ["error"] = r.Error?.Code.ToWire() })));
        return response;
    }

    /// <summary>
    /// Bulk lookup, streamed in request order. Invalid and unknown LFNs are answered per item;
    /// the call itself only fails for a missing list or one above the limit.
    /// </summary>
    public IAsyncEnumerable<LookupResult> Lookup(LookupRequest request, Caller caller, CancellationToken ct, IReadOnlySet<string>? onSes = null)
    {
        // Checked before the stream starts, so a bad request still gets a proper 400.
        var lfns = request.Lfns ?? throw CatalogException.Invalid("lfns", "is required");
        if (lfns.Count > options.Value.MaxLookupSize)
            throw CatalogException.TooMany("lfns", options.Value.MaxLookupSize, "lookup", "Catalog:MaxLookupSize");
        access.DemandReader(caller, "look replicas up");
        if (request.Se is not null && onSes is null) throw new InvalidOperationException("an se expression is resolved with SesForAsync before the lookup");
        return LookupAsync(lfns, request.All == true, onSes, caller, ct);
    }

    private async IAsyncEnumerable<LookupResult> LookupAsync(IReadOnlyList<string?> lfns, bool all, IReadOnlySet<string>? onSes, Caller caller, [EnumeratorCancellation] CancellationToken ct)
    {
        var paths = new LfnPath?[lfns.Count];
        var errors = new ItemError?[lfns.Count];
        var valid = new List<int>(lfns.Count);
        for (var i = 0; i < lfns.Count; i++)
        {
            if (Lfn.TryParse(lfns[i], Roots, out var path, out var error, $"lfns[{i}]") && !path.IsRoot)
            {
                // Outside the caller's scopes: answered per item, like an unknown LFN.
                if (access.Check(caller, Operation.Read, path.Path) is { } refused) errors[i] = refused with { Field = $"lfns[{i}]" };
                else { paths[i] = path; valid.Add(i); }
            }
            else errors[i] = error ?? new ItemError(ErrorCode.InvalidLfn, $"lfns[{i}] is a root, not a file", $"lfns[{i}]");
        }

        // The directories are resolved once; then the valid LFNs are read in chunks (request order)
        // on up to LookupParallelism connections at once: PostgreSQL answers one statement on one
        // core, so a 10,000-LFN lookup alone would leave the other cores idle. At most that many
        // chunks are in memory.
        var parallelism = Math.Max(1, options.Value.LookupParallelism);
        var dirIds = new Dictionary<string, long>(StringComparer.Ordinal);
        SeRegistry? ses = null;
        var gates = Gates.None;
        if (valid.Count > 0)
            await using (var conn = await db.OpenAsync(ct))
            {
                dirIds = await DirectoryStore.GetIdsAsync(conn, null, valid.Select(i => paths[i]!.Value.Parent).Distinct(StringComparer.Ordinal).ToArray(), ct);
                ses = await SeRegistry.ReadAsync(conn, null, ct);
                gates = await Access.GatesAsync(conn, null, caller, dirIds.Keys, ct);
            }
        var chunks = valid.Chunk(Math.Clamp((valid.Count + 2 * parallelism - 1) / (2 * parallelism), 500, 5000)).ToList();
        var reads = new Queue<Task<List<ReplicaStore.LookupRow>>>();
        var next = 0;
        var started = 0;
        try
        {
            for (var c = 0; c < chunks.Count; c++)
            {
                while (started < chunks.Count && reads.Count < parallelism) reads.Enqueue(ReadChunkAsync(chunks[started++], paths, dirIds, ct));
                var rows = await reads.Dequeue();
                var r = 0;
                var ord = 0;
                foreach (var i in chunks[c])
                {
                    for (; next < i; next++)
                        if (errors[next] is { } e) yield return new LookupResult(lfns[next], Error: e);
                    next = i + 1;
                    ord++;
                    var lfn = paths[i]!.Value.Path;
                    var replicas = new List<Replica>();
                    ReplicaStore.LookupRow? first = null;
                    for (; r < rows.Count && rows[r].Ord == ord; r++)
                    {
                        first ??= rows[r];
                        if (rows[r].SeId is not { } seId) continue;
                        // An SE registered after the registry was read: read it again (the rows are newer).
                        // Still absent, it was emptied and removed since this chunk was read: so was the replica.
                        if (!ses!.TryGet(seId, out var se) && !(ses = await RegistryAsync(ct)).TryGet(seId, out se)) continue;
                        if (!all && !Usable((ReplicaState)rows[r].State!, se)) continue;
                        if (onSes is not null && !onSes.Contains(se.Name)) continue;
                        replicas.Add(new Replica(se.Name, rows[r].Pfn ?? se.BaseUrl + lfn, (ReplicaState)rows[r].State!, Mapping.Utc(rows[r].Created!.Value)));
                    }
                    if (replicas.Count > 1) replicas.Sort((a, b) => string.CompareOrdinal(a.Se, b.Se));
                    // What the caller may not see is answered exactly like what is not registered.
                    yield return first?.FileId is null || !Access.CanSee(caller, gates, paths[i]!.Value.Parent, first.Owner!, first.Grp!, first.Mode!.Value)
                        ? new LookupResult(lfn, Error: new ItemError(ErrorCode.NotFound, $"file '{lfn}' is not registered", $"lfns[{i}]"))
                        : new LookupResult(lfn, first.Guid, first.Size, Mapping.Adler32(first.Adler32!.Value), replicas);
                }
            }
        }
        finally
        {
            // A client gone mid-answer: let the reads still running finish (their connections go back to the pool).
            foreach (var read in reads) await read.ContinueWith(_ => { }, TaskScheduler.Default);
        }
        for (; next < lfns.Count; next++)
            if (errors[next] is { } e) yield return new LookupResult(lfns[next], Error: e);
    }

    /// <summary>The SE registry read again, on a connection of its own.</summary>
    private async Task<SeRegistry> RegistryAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenAsync(ct);
        return await SeRegistry.ReadAsync(conn, null, ct);
    }

    /// <summary>
    /// One chunk's rows, ordered by the chunk's order (Ord counts from 1 within the chunk), probed in
    /// (directory, name) order. Names in a directory that does not exist are not sent: no row means not found.
    /// </summary>
    private async Task<List<ReplicaStore.LookupRow>> ReadChunkAsync(int[] chunk, LfnPath?[] paths, Dictionary<string, long> dirIds, CancellationToken ct)
    {
        var probes = new List<(long DirId, string Name, int Ord)>(chunk.Length);
        for (var k = 0; k < chunk.Length; k++)
            if (dirIds.TryGetValue(paths[chunk[k]]!.Value.Parent, out var dirId)) probes.Add((dirId, paths[chunk[k]]!.Value.Name, k + 1));
        if (probes.Count == 0) return [];
        probes.Sort((a, b) => a.DirId != b.DirId ? a.DirId.CompareTo(b.DirId) : string.CompareOrdinal(a.Name, b.Name));
        await using var conn = await db.OpenAsync(ct);
        return await ReplicaStore.LookupAsync(conn, probes.Select(p => p.DirId).ToArray(), probes.Select(p => p.Name).ToArray(),
            probes.Select(p => p.Ord).ToArray(), ct);
    }
}
