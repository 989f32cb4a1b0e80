using System.Text;
using Catalog.Api.Audit;
using Catalog.Api.Errors;
using Catalog.Api.Hosting;
using Catalog.Api.Http;
using Catalog.Api.Security;
using Catalog.Api.StorageElements;
using Catalog.Contracts;
using Catalog.Storage;
using Microsoft.Extensions.Options;
using Dapper;
using Npgsql;

namespace Catalog.Api.Namespace;

/// <summary>Directories and the namespace as a tree: mkdir, list, stat, move, remove, usage.</summary>
public sealed class NamespaceService(Db db, IOptions<CatalogOptions> options, Access access, AuditLog audit, HotCache cache)
{
    private const int DefaultPageSize = 1000;

    private IReadOnlyList<string> Roots => options.Value.Roots;

    public async Task<Entry> MakeDirectoryAsync(MakeDirectoryRequest request, Caller caller, CancellationToken ct)
    {
        var path = Lfn.Parse(request.Path, Roots, "path");
        if (request.Mode is < 0 or > 0x1FF) throw CatalogException.Invalid("mode", "must be a permission mode between 0 and 0777");
        access.Demand(caller, Operation.Create, path.Path, "path");

        var (entry, created) = await db.WriteAsync(async (conn, tx) =>
        {
            if (await DirectoryStore.GetAsync(conn, tx, path.Path, ct) is { } existing)
                return await Access.CanSeeAsync(conn, tx, caller, existing, ct) ? (Mapping.ToEntry(existing), false) : throw CatalogException.NotFound($"directory '{path.Path}'", "path");
            if (!request.Parents && await DirectoryStore.GetAsync(conn, tx, path.Parent, ct) is null)
                throw new CatalogException(ErrorCode.NotFound, $"parent directory '{path.Parent}' does not exist (use parents)", "path");
            await DirectoryTree.DemandWritableAsync(conn, tx, [path], caller, access, "path", ct);
            var ids = await DirectoryTree.EnsureAsync(conn, tx, [path], caller.User, request.Mode, ct);
            if (!ids.ContainsKey(path.Path))
                throw new CatalogException(ErrorCode.Conflict, $"a file exists at '{path.Path}' or one of its parents", "path");
            return (Mapping.ToEntry((await DirectoryStore.GetAsync(conn, tx, path.Path, ct))!), true);
        }, ct);
        await audit.RecordAsync(caller, "mkdir", path.Path, created ? "created" : "exists");
        return entry;
    }

    public async Task<DirectoryPage> ListAsync(string? path, string? after, int? limit, Caller caller, CancellationToken ct)
    {
        var dir = Lfn.Parse(path, Roots, "path");
        access.Demand(caller, Operation.Read, dir.Path, "path");
        var pageSize = options.Value.PageSize(limit, DefaultPageSize);
        var afterName = Cursor.Decode(after);

        await using var conn = await db.OpenAsync(ct);
        var row = await DirectoryStore.GetAsync(conn, null, dir.Path, ct);
        if (row is null || !await Access.CanSeeAsync(conn, null, caller, row, ct)) throw CatalogException.NotFound($"directory '{dir.Path}'", "path");
        var entries = await DirectoryStore.ListAsync(conn, row.Id, afterName, pageSize, Access.ModesOnly(caller), ct);
        var next = entries.Count == pageSize ? Cursor.Encode(entries[^1].Name) : null;
        return new DirectoryPage(dir.Path, entries.Select(e => Mapping.ToEntry(e, dir.Path)).ToList(), next);
    }

    public async Task<Entry> StatAsync(string? path, Caller caller, CancellationToken ct)
    {
        var target = Lfn.Parse(path, Roots, "path");
        access.Demand(caller, Operation.Read, target.Path, "path");
        await using var conn = await db.OpenAsync(ct);
        if (await DirectoryStore.GetAsync(conn, null, target.Path, ct) is { } dir)
            return await Access.CanSeeAsync(conn, null, caller, dir, ct) ? Mapping.ToEntry(dir) : throw CatalogException.NotFound($"'{target.Path}'", "path");
        var file = await FindFileAsync(conn, null, target, ct);
        if (!await Access.CanSeeAsync(conn, null, caller, target.Parent, file, ct))
            throw CatalogException.NotFound($"'{target.Path}'", "path");
        return Mapping.ToEntry(file, target.Path);
    }

    /// <summary>Renames or moves a file or a whole directory subtree. The target must not exist; its parent must.</summary>
    public async Task<Entry> MoveAsync(MoveRequest request, Caller caller, CancellationToken ct)
    {
        var from = Lfn.ParseBelowRoot(request.From, Roots, "from");
        var to = Lfn.ParseBelowRoot(request.To, Roots, "to");
        if (to.Path == from.Path) throw CatalogException.Invalid("to", "is the same as from");
        access.Demand(caller, Operation.Delete, from.Path, "from");
        access.Demand(caller, Operation.Create, to.Path, "to");

        var movedDirectory = await db.WriteAsync(async (conn, tx) =>
        {
            var parent = await DirectoryStore.GetAsync(conn, tx, to.Parent, ct, forUpdate: true)
                ?? throw new CatalogException(ErrorCode.NotFound, $"target directory '{to.Parent}' does not exist", "to");
            access.DemandMode(caller, Operation.Create, parent.Owner, parent.Grp, parent.Mode, to.Parent, "to");
            if (await DirectoryStore.GetAsync(conn, tx, to.Path, ct) is not null || await FindFileAsync(conn, tx, to, ct) is not null)
                throw new CatalogException(ErrorCode.Conflict, $"'{to.Path}' already exists", "to");

            if (await DirectoryStore.GetAsync(conn, tx, from.Path, ct, forUpdate: true) is { } dir)
            {
                if (to.Path.StartsWith(from.Path + "/", StringComparison.Ordinal))
                    throw CatalogException.Invalid("to", "cannot move a directory into its own subtree");
                // The one-level rule holds across a move: the new ancestors may not set what the subtree sets.
                var clash = await MetadataStore.KeyClashAsync(conn, tx, from.Path, parent.EffMetadata ?? "{}", ct);
                if (clash is not null)
                    throw new CatalogException(ErrorCode.Conflict, $"'{clash}' is set both in '{from.Path}' and above '{to.Path}'; an attribute is set at one level of a path only", "to");
                await ReplicaStore.PinPfnsAsync(conn, tx, from.Path, null, ct);
                await DirectoryStore.MoveSubtreeAsync(conn, tx, dir.Id, from.Path, to.Path, parent.Id, to.Name, ct);
                await MetadataStore.RecomputeEffectiveAsync(conn, tx, to.Path, ct);
                return true;
            }
            var file = await FindFileAsync(conn, tx, from, ct, forUpdate: true)
                ?? throw CatalogException.NotFound($"'{from.Path}'", "from");
            await ReplicaStore.PinPfnsAsync(conn, tx, null, file.Id, ct);
            await FileStore.MoveAsync(conn, tx, file.Id, parent.Id, to.Name, ct);
            return false;
        }, ct);
        if (movedDirectory) await cache.InvalidateAllAsync(CacheSpace.File, CacheSpace.Dataset); // every LFN below changed
        else await cache.FilesChangedAsync([from.Path, to.Path]);
        await audit.RecordAsync(caller, "move", from.Path, "moved", new() { ["to"] = to.Path });
        return await StatAsync(to.Path, Caller.System, ct);
    }

    /// <summary>Removes files and directories, each path on its own: one failure never stops the others.</summary>
    public async Task<RemoveResponse> RemoveAsync(RemoveRequest request, Caller caller, CancellationToken ct)
    {
        var paths = request.Paths ?? throw CatalogException.Invalid("paths", "is required");
        if (paths.Count > options.Value.MaxBatchSize)
            throw CatalogException.TooMany("paths", options.Value.MaxBatchSize, "request", "Catalog:MaxBatchSize");
        // Permission is all or nothing: a request reaching outside the caller's scopes changes nothing.
        for (var i = 0; i < paths.Count; i++)
            if (Lfn.TryParse(paths[i], Roots, out var p, out _, $"paths[{i}]"))
                access.Demand(caller, Operation.Delete, p.Path, $"paths[{i}]");
        var results = new List<RemoveResult>(paths.Count);
        for (var i = 0; i < paths.Count; i++)
        {
            if (!Lfn.TryParse(paths[i], Roots, out var path, out var error, $"paths[{i}]"))
            {
                results.Add(new RemoveResult(paths[i], RemoveStatus.Failed, Error: error));
                continue;
            }
            try
            {
                var result = await RemoveOneAsync(path, request.Recursive, ct);
                results.Add(result);
                if (result.DirectoriesRemoved > 0)
                {
                    if (result.FilesRemoved > 0) await cache.InvalidateAllAsync(CacheSpace.File);
                    await cache.InvalidateAllAsync(CacheSpace.Dataset);
                }
                else if (result.FilesRemoved > 0) await cache.FilesChangedAsync([path.Path]);
            }
            catch (CatalogException e)
            {
                results.Add(new RemoveResult(path.Path, RemoveStatus.Failed, Error: e.ToItemError() with { Field = $"paths[{i}]" }));
            }
        }
        await audit.RecordManyAsync(caller, "remove", results.Select(r => (r.Path, Mapping.Wire(r.Status),
            r.Status == RemoveStatus.Removed ? new System.Text.Json.Nodes.JsonObject { ["files"] = r.FilesRemoved, ["directories"] = r.DirectoriesRemoved }
            : r.Error is null ? null : new System.Text.Json.Nodes.JsonObject { ["error"] = r.Error.Code.ToWire() })));
        return new RemoveResponse(results);
    }

    private Task<RemoveResult> RemoveOneAsync(LfnPath path, bool recursive, CancellationToken ct) =>
        db.WriteAsync(async (conn, tx) =>
        {
            if (await DirectoryStore.GetAsync(conn, tx, path.Path, ct, forUpdate: true) is { } dir)
            {
                if (path.IsRoot) throw new CatalogException(ErrorCode.InvalidArgument, $"'{path.Path}' is a root and cannot be removed");
                if (!recursive && !await DirectoryStore.IsEmptyAsync(conn, tx, dir.Id, ct))
                    throw new CatalogException(ErrorCode.NotEmpty, $"directory '{path.Path}' is not empty (remove it recursively)");
                var holder = await CollectionStore.HolderOutsideAsync(conn, tx, path.Path, ct);
                if (holder is not null)
                    throw new CatalogException(ErrorCode.Conflict, $"'{path.Path}' holds a member of the collection '{holder}', which is immutable");
                var (files, directories) = await DirectoryStore.DeleteSubtreeAsync(conn, tx, path.Path, ct);
                return new RemoveResult(path.Path, RemoveStatus.Removed, files, directories);
            }
            if (await FindFileAsync(conn, tx, path, ct, forUpdate: true) is { } file)
            {
                await FileStore.DeleteAsync(conn, tx, [file.Id], ct);
                return new RemoveResult(path.Path, RemoveStatus.Removed, FilesRemoved: 1);
            }
            return new RemoveResult(path.Path, RemoveStatus.Absent);
        }, ct);

    /// <summary>chmod: the entry's owner (with a create or modify scope on it), a data manager or an admin.</summary>
    public async Task<Entry> ChangeModeAsync(ChangeModeRequest request, Caller caller, CancellationToken ct)
    {
        var path = Lfn.Parse(request.Path, Roots, "path");
        if (request.Mode is not { } mode || mode is < 0 or > 0x1FF) throw CatalogException.Invalid("mode", "must be a permission mode between 0 and 0777");
        access.Demand(caller, Operation.Create, path.Path, "path");
        if (request.Recursive)
        {
            access.DemandRole(caller, Role.DataManager, "change modes recursively");
            var (dirs, files) = await ChangeSubtreeAsync(path, caller, null, null, mode, ct);
            await audit.RecordAsync(caller, "chmod", path.Path, "changed",
                new() { ["mode"] = Convert.ToString(mode, 8), ["recursive"] = "true", ["directories"] = dirs.ToString(), ["files"] = files.ToString() });
        }
        else
        {
            await ChangeAsync(path, caller, ownerOnly: true, null, null, mode, ct);
            await audit.RecordAsync(caller, "chmod", path.Path, "changed", new() { ["mode"] = Convert.ToString(mode, 8) });
        }
        return await StatAsync(path.Path, Caller.System, ct);
    }

    /// <summary>chown: data managers and admins only.</summary>
    public async Task<Entry> ChangeOwnerAsync(ChangeOwnerRequest request, Caller caller, CancellationToken ct)
    {
        var path = Lfn.Parse(request.Path, Roots, "path");
        if (request.Owner is null && request.Group is null) throw CatalogException.Invalid("owner", "give an owner, a group or both");
        foreach (var (name, value) in new[] { ("owner", request.Owner), ("group", request.Group) })
            if (value is not null && (value.Length is 0 or > 128 || !value.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '@' or '-')))
                throw CatalogException.Invalid(name, "must be 1 to 128 characters of letters, digits and . _ @ -");
        access.DemandRole(caller, Role.DataManager, "change owners");
        access.Demand(caller, Operation.Modify, path.Path, "path");
        if (request.Recursive)
        {
            var (dirs, files) = await ChangeSubtreeAsync(path, caller, request.Owner, request.Group, null, ct);
            await audit.RecordAsync(caller, "chown", path.Path, "changed", new()
            {
                ["owner"] = request.Owner, ["group"] = request.Group, ["recursive"] = "true", ["directories"] = dirs.ToString(), ["files"] = files.ToString(),
            });
        }
        else
        {
            await ChangeAsync(path, caller, ownerOnly: false, request.Owner, request.Group, null, ct);
            await audit.RecordAsync(caller, "chown", path.Path, "changed", new() { ["owner"] = request.Owner, ["group"] = request.Group });
        }
        return await StatAsync(path.Path, Caller.System, ct);
    }

    /// <summary>
    /// chmod -R / chown -R (data managers and admins): a directory and everything below it, in one
    /// transaction. Files get the mode without its x bits (they mean nothing for a file), as
    /// chmod -R u=rwX does. Every cached file entry is dropped: any of them may lie below.
    /// </summary>
    private async Task<(long Directories, long Files)> ChangeSubtreeAsync(LfnPath path, Caller caller, string? owner, string? group, int? mode, CancellationToken ct)
    {
        var counts = await db.WriteAsync(async (conn, tx) =>
        {
            var dir = await DirectoryStore.GetAsync(conn, tx, path.Path, ct, forUpdate: true);
            if (dir is null)
            {
                if (await FindFileAsync(conn, tx, path, ct) is { } file && await Access.CanSeeAsync(conn, tx, caller, path.Parent, file, ct))
                    throw CatalogException.Invalid("recursive", $"'{path.Path}' is a file; recursive applies to directories");
                throw CatalogException.NotFound($"directory '{path.Path}'", "path");
            }
            if (!await Access.CanSeeAsync(conn, tx, caller, dir, ct)) throw CatalogException.NotFound($"directory '{path.Path}'", "path");
            return await DirectoryStore.SetOwnershipSubtreeAsync(conn, tx, path.Path, owner, group, mode, mode & ~0x49, ct);
        }, ct);
        await cache.InvalidateAllAsync(CacheSpace.File);
        return counts;
    }

    private async Task ChangeAsync(LfnPath path, Caller caller, bool ownerOnly, string? owner, string? group, int? mode, CancellationToken ct)
    {
        // A file's owner, group and mode are part of its cached entry (the read check uses them), and
        // a directory's are part of the cached entry of every file below it (as a gate above them).
        switch (await ChangeEntryAsync(path, caller, ownerOnly, owner, group, mode, ct))
        {
            case Changed.File: await cache.InvalidateAsync(CacheSpace.File, [path.Path]); break;
            case Changed.Gate: await cache.InvalidateAllAsync(CacheSpace.File); break;
        }
    }

    private enum Changed { File, Directory, Gate }

    /// <summary>
    /// Answers what changed: a file, a directory that is no gate before or after (no cached entry
    /// holds its modes), or a gate (a directory not everyone may search, before or after).
    /// </summary>
    private Task<Changed> ChangeEntryAsync(LfnPath path, Caller caller, bool ownerOnly, string? owner, string? group, int? mode, CancellationToken ct) =>
        db.WriteAsync(async (conn, tx) =>
        {
            if (await DirectoryStore.GetAsync(conn, tx, path.Path, ct, forUpdate: true) is { } dir)
            {
                if (!await Access.CanSeeAsync(conn, tx, caller, dir, ct)) throw CatalogException.NotFound($"'{path.Path}'", "path");
                if (ownerOnly && !caller.BypassesModes && dir.Owner != caller.Subject)
                    throw new CatalogException(ErrorCode.Forbidden, $"only the owner ({dir.Owner}) may change the mode of '{path.Path}'", "path");
                await DirectoryStore.SetOwnershipAsync(conn, tx, dir.Id, owner, group, mode, ct);
                return Viewer.IsGate(dir.Mode) || Viewer.IsGate(mode ?? dir.Mode) ? Changed.Gate : Changed.Directory;
            }
            var file = await FindFileAsync(conn, tx, path, ct, forUpdate: true);
            if (!await Access.CanSeeAsync(conn, tx, caller, path.Parent, file, ct))
                throw CatalogException.NotFound($"'{path.Path}'", "path");
            if (ownerOnly && !caller.BypassesModes && file.Owner != caller.Subject)
                throw new CatalogException(ErrorCode.Forbidden, $"only the owner ({file.Owner}) may change the mode of '{path.Path}'", "path");
            await FileStore.SetOwnershipAsync(conn, tx, file.Id, owner, group, mode, ct);
            return Changed.File;
        }, ct);

    /// <summary>Files and bytes under a directory (its whole subtree), logical and per SE; exact, from the sharded counters.</summary>
    public async Task<Usage> UsageAsync(string? path, Caller caller, CancellationToken ct)
    {
        var dir = Lfn.Parse(path, Roots, "path");
        access.Demand(caller, Operation.Read, dir.Path, "path");
        await using var conn = await db.OpenAsync(ct);
        if (await DirectoryStore.GetAsync(conn, null, dir.Path, ct) is not { } row || !await Access.CanSeeAsync(conn, null, caller, row, ct))
            throw CatalogException.NotFound($"directory '{dir.Path}'", "path");
        var (usage, directories) = await DirectoryStore.UsageAsync(conn, dir.Path, await access.ViewerAsync(conn, null, caller, [dir.Path], ct), ct);
        var ses = await SeRegistry.ReadAsync(conn, null, ct);
        var logical = usage.FirstOrDefault(u => u.SeId == 0);
        var perSe = usage.Where(u => u.SeId != 0 && u.Files != 0)
            .Select(u => ses.TryGet(u.SeId, out var se) ? new SeUsage(se.Name, u.Files, u.Bytes) : null).OfType<SeUsage>().ToList();
        return new Usage(dir.Path, logical?.Files ?? 0, logical?.Bytes ?? 0, directories, perSe);
    }

    internal static async Task<FileRow?> FindFileAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, LfnPath path, CancellationToken ct, bool forUpdate = false) =>
        path.IsRoot ? null : (await FileStore.GetByLfnsAsync(conn, tx, [path.Parent], [path.Name], ct, forUpdate)).GetValueOrDefault(path.Path);
}
