using Catalog.Api.Errors;
using Catalog.Api.Namespace;
using Catalog.Api.Security;
using Catalog.Contracts;
using Catalog.Storage;
using Npgsql;

namespace Catalog.Api.Files;

public sealed partial class RegistrationService
{
    /// <summary>
    /// A batch in a transaction of its own, with its missing directories made first in a short
    /// transaction before it. Whoever makes a directory holds its parent <c>for update</c> until
    /// commit (DirectoryStore's name protocol); inside the batch's transaction that serialized
    /// every batch that opened a datablock under one dataset: with 4 batches of 1,000 in flight,
    /// 77 s of the 114 s they spent in PostgreSQL over a 200,000-file run was that wait.
    /// </summary>
    private async Task<RegisterResponse> WriteBatchAsync(IReadOnlyList<NewFile?> files, string? idempotencyKey, byte[]? hash,
        Caller caller, CancellationToken ct)
    {
        await MakeDirectoriesAsync(files, idempotencyKey, caller, ct);
        return await db.WriteAsync((conn, tx) => ProcessAsync(conn, tx, files, idempotencyKey, hash, caller, ct), ct);
    }

    /// <summary>
    /// Makes the directories that the batch's valid items would create, and only those: a directory
    /// is made only for an item that is validated, checked against the schema and its parents, and
    /// allowed by w, as the batch's own transaction will do again, so a refused request or item
    /// leaves no directory behind. One such item per missing directory is enough, so a datablock's
    /// 1,000 files are not all validated twice (that was a tenth of the server's CPU in a bulk run).
    /// A keyed request seen before makes nothing (a replay or a reused key). Whatever this skips
    /// (a lock it cannot get within a second, a refusal) the batch's transaction still does itself.
    /// </summary>
    private async Task MakeDirectoriesAsync(IReadOnlyList<NewFile?> files, string? idempotencyKey, Caller caller, CancellationToken ct)
    {
        // The directories the batch names, parsed once each; files into a dataset are left out (they
        // get their datablock under the dataset's own lock, which already orders them).
        var named = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var f in files)
            if (RawDirectory(f) is { } raw && !named.ContainsKey(raw))
                named[raw] = Lfn.TryParse(raw, options.Value.Roots, out var dir, out _) ? dir.Path : null;
        var paths = named.Values.OfType<string>().Distinct(StringComparer.Ordinal).ToArray();
        if (paths.Length == 0) return;

        await using var conn = await db.OpenAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var existing = await DirectoryStore.GetIdsAsync(conn, tx, paths, ct);
        if (existing.Count == paths.Length) return;   // the usual case: nothing to make
        if (idempotencyKey is not null && await IdempotencyStore.ExistsAsync(conn, tx, idempotencyKey, ct)) return;

        // The first valid item of each missing directory stands for it.
        var ses = await RegistryAsync(conn, tx, ct);
        var results = new RegisterResult?[files.Count];
        var representatives = new Dictionary<string, Candidate>(StringComparer.Ordinal);
        for (var i = 0; i < files.Count; i++)
        {
            if (RawDirectory(files[i]) is not { } raw || named[raw] is not { } dir || existing.ContainsKey(dir) || representatives.ContainsKey(dir)) continue;
            if (ValidateOne(i, files[i], ses, out var candidate) is null && candidate!.Path.Parent == dir) representatives[dir] = candidate;
        }
        var candidates = await CheckMetadataAsync(conn, tx, representatives.Values.ToList(), results, ct);
        await ResolveParentsAsync(conn, tx, candidates, results, ct);
        var dirs = candidates.Where(c => results[c.Index] is null).Select(c => c.Path.ParentPath()).ToList();
        if (dirs.Count == 0) return;
        try
        {
            await DirectoryTree.DemandWritableAsync(conn, tx, dirs, caller, access, "files", ct);
        }
        catch (CatalogException)
        {
            return; // the batch's transaction refuses it, with the same answer
        }
        await DirectoryStore.SetLockTimeoutAsync(conn, tx, TimeSpan.FromSeconds(1), ct);
        try
        {
            await DirectoryTree.EnsureAsync(conn, tx, dirs, caller.User, null, ct);
            await tx.CommitAsync(ct);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.LockNotAvailable or PostgresErrorCodes.DeadlockDetected
                                             or PostgresErrorCodes.ForeignKeyViolation)
        {
            // Left to the batch's transaction, which waits for the lock as long as it takes.
        }
    }

    private static string? RawDirectory(NewFile? file) =>
        file is { Dataset: null, Lfn: { } lfn } && lfn.LastIndexOf('/') is > 0 and var slash ? lfn[..slash] : null;
}
