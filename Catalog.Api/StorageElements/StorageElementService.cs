using Catalog.Api.Audit;
using Catalog.Api.Errors;
using Catalog.Api.Hosting;
using Catalog.Api.Http;
using Catalog.Api.Namespace;
using Catalog.Api.Security;
using Catalog.Contracts;
using Catalog.Storage;

namespace Catalog.Api.StorageElements;

/// <summary>The SE registry: replicas can only be placed on SEs listed here and open for writing.</summary>
public sealed class StorageElementService(Db db, Access access, AuditLog audit, HotCache cache)
{
    private static readonly string[] Protocols = ["root", "davs", "https", "srm", "gsiftp", "file"];

    /// <summary>Every SE, or those an SE expression selects (the transfer rules' language: tier=1&amp;region!=asia).</summary>
    public async Task<IReadOnlyList<StorageElement>> ListAsync(string? expression, Caller caller, CancellationToken ct)
    {
        access.DemandReader(caller, "list storage elements");
        await using var conn = await db.OpenAsync(ct);
        var all = (await StorageElementStore.ListAsync(conn, null, ct)).Select(Mapping.ToStorageElement).ToList();
        if (expression is null) return all;
        var chosen = Evaluate(expression, all, "expression");
        return all.Where(s => chosen.Contains(s.Name)).ToList();
    }

    public Task<IReadOnlyList<StorageElement>> ListAsync(Caller caller, CancellationToken ct) => ListAsync(null, caller, ct);

    /// <summary>The names of the SEs an expression selects, or null for none given; a bad expression is a 400 naming <paramref name="field"/>.</summary>
    public async Task<IReadOnlySet<string>?> MatchingAsync(string? expression, string field, CancellationToken ct)
    {
        if (expression is null) return null;
        await using var conn = await db.OpenAsync(ct);
        return Evaluate(expression, (await StorageElementStore.ListAsync(conn, null, ct)).Select(Mapping.ToStorageElement).ToList(), field);
    }

    private static IReadOnlySet<string> Evaluate(string expression, IReadOnlyList<StorageElement> ses, string field)
    {
        try { return SeExpression.Evaluate(expression, ses, field); }
        catch (SeExpressionException e) { throw new CatalogException(ErrorCode.InvalidArgument, e.Message, e.Field); }
    }

    /// <summary>
    /// Renames an SE (data managers). Replicas refer to it by id, so every one keeps it, with its PFN
    /// (the base URL does not change); cached entries carrying the old name are dropped.
    /// </summary>
    public async Task<StorageElement> RenameAsync(string name, RenameRequest request, Caller caller, CancellationToken ct)
    {
        access.DemandRole(caller, Role.DataManager, "rename storage elements");
        var to = request.To ?? throw CatalogException.Invalid("to", "is required");
        if (to.Length is 0 or > 64 || !to.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw CatalogException.Invalid("to", "must be 1 to 64 letters, digits, '-', '_' or '.'");
        await using var conn = await db.OpenAsync(ct);
        if (await StorageElementStore.GetAsync(conn, name, ct) is null) throw CatalogException.NotFound($"storage element '{name}'", "name");
        if (to != name && !await StorageElementStore.RenameAsync(conn, name, to, ct))
            throw new CatalogException(ErrorCode.Conflict, $"a storage element named '{to}' exists already", "to");
        await cache.InvalidateAllAsync(CacheSpace.File, CacheSpace.Dataset);
        await audit.RecordAsync(caller, "se.rename", null, "renamed", new() { ["se"] = name, ["to"] = to });
        return Mapping.ToStorageElement((await StorageElementStore.GetAsync(conn, to, ct))!);
    }

    public async Task<StorageElement> GetAsync(string name, Caller caller, CancellationToken ct)
    {
        access.DemandReader(caller, "read storage elements");
        await using var conn = await db.OpenAsync(ct);
        var row = await StorageElementStore.GetAsync(conn, name, ct) ?? throw CatalogException.NotFound($"storage element '{name}'", "name");
        return Mapping.ToStorageElement(row);
    }

    /// <summary>Every replica on an SE (data managers: it lists entries whatever the directory modes say).</summary>
    public async IAsyncEnumerable<SeReplica> DumpAsync(string name, Caller caller, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        access.DemandRole(caller, Role.DataManager, "list the replicas of a storage element");
        await using var conn = await db.OpenAsync(ct);
        var row = await StorageElementStore.GetAsync(conn, name, ct) ?? throw CatalogException.NotFound($"storage element '{name}'", "name");
        await foreach (var r in StorageElementStore.DumpAsync(conn, row.Id, ct))
            yield return new SeReplica(r.Lfn, r.Size, Mapping.Adler32(r.Adler32), (ReplicaState)r.State, r.Pfn);
    }

    public async Task<StorageElement> PutAsync(string name, StorageElementSpec spec, Caller caller, CancellationToken ct)
    {
        access.DemandRole(caller, Role.DataManager, "register storage elements");
        if (name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw CatalogException.Invalid("name", "must be 1 to 64 letters, digits, '-', '_' or '.'");
        if (string.IsNullOrWhiteSpace(spec.Site)) throw CatalogException.Invalid("site", "is required");
        if (string.IsNullOrWhiteSpace(spec.Protocol)) throw CatalogException.Invalid("protocol", "is required");
        if (!Protocols.Contains(spec.Protocol))
            throw CatalogException.Invalid("protocol", $"must be one of {string.Join(", ", Protocols)}");
        if (string.IsNullOrWhiteSpace(spec.BaseUrl)) throw CatalogException.Invalid("baseUrl", "is required");
        var baseUrl = spec.BaseUrl.TrimEnd('/');
        var expectedScheme = spec.Protocol == "file" ? "/" : spec.Protocol + "://";
        if (!baseUrl.StartsWith(expectedScheme, StringComparison.Ordinal))
            throw CatalogException.Invalid("baseUrl", $"must start with '{expectedScheme}' for protocol {spec.Protocol}");
        // Every PFN starts with this: nothing invisible, and no credentials (user:password@host) in it.
        if (baseUrl.Any(c => char.IsControl(c) || Lfn.IsInvisible(c)))
            throw CatalogException.Invalid("baseUrl", "must not contain control, whitespace or invisible format characters");
        if (spec.Protocol != "file" && baseUrl[expectedScheme.Length..].Split('/')[0].Contains('@'))
            throw CatalogException.Invalid("baseUrl", "must not carry user information (user@host): credentials do not belong in PFNs");
        if (spec.Site.Any(c => char.IsControl(c) || (Lfn.IsInvisible(c) && !char.IsWhiteSpace(c))))
            throw CatalogException.Invalid("site", "must not contain control or invisible format characters");

        ValidateAttributes(spec.Attributes);

        await using var conn = await db.OpenAsync(ct);
        await StorageElementStore.UpsertAsync(conn, name, spec.Site, spec.Protocol, baseUrl,
            spec.ReadEnabled, spec.WriteEnabled, (short)spec.State,
            spec.Attributes is null ? null : System.Text.Json.JsonSerializer.Serialize(spec.Attributes), ct);
        await cache.InvalidateAllAsync(CacheSpace.File, CacheSpace.Dataset); // PFNs and SE names of every cached replica
        await audit.RecordAsync(caller, "se.put", null, "stored", new() { ["se"] = name, ["baseUrl"] = baseUrl, ["state"] = Mapping.Wire(spec.State) });
        return Mapping.ToStorageElement((await StorageElementStore.GetAsync(conn, name, ct))!);
    }

    /// <summary>The names rule expressions read besides the attributes; an SE cannot redefine them.</summary>
    private static readonly string[] Implicit = ["name", "site", "protocol"];

    /// <summary>Keys: lower-case letters, digits and '_' (up to 32); values: up to 64 visible characters; at most 32 pairs.</summary>
    private static void ValidateAttributes(IReadOnlyDictionary<string, string>? attributes)
    {
        if (attributes is null) return;
        if (attributes.Count > 32) throw CatalogException.Invalid("attributes", "must have at most 32 entries");
        foreach (var (key, value) in attributes)
        {
            if (key.Length is 0 or > 32 || !char.IsAsciiLetterLower(key[0]) || !key.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_'))
                throw CatalogException.Invalid($"attributes.{key}", "keys must be 1 to 32 lower-case letters, digits or '_', starting with a letter");
            if (Implicit.Contains(key))
                throw CatalogException.Invalid($"attributes.{key}", $"'{key}' is the SE's own field and cannot be set as an attribute");
            if (value is null || value.Length is 0 or > 64 || value.Any(c => char.IsControl(c) || char.IsWhiteSpace(c) || Lfn.IsInvisible(c) || c is '&' or '|' or '\\' or '(' or ')' or '=' or '!'))
                throw CatalogException.Invalid($"attributes.{key}", "values must be 1 to 64 visible characters without spaces or the expression operators & | \\ ( ) = !");
        }
    }

    public async Task DeleteAsync(string name, Caller caller, CancellationToken ct)
    {
        access.DemandRole(caller, Role.DataManager, "delete storage elements");
        await using var conn = await db.OpenAsync(ct);
        if (await StorageElementStore.GetAsync(conn, name, ct) is null)
            throw new CatalogException(ErrorCode.NotFound, $"storage element '{name}' does not exist", "name");
        if (!await StorageElementStore.DeleteIfEmptyAsync(conn, name, ct))
            throw new CatalogException(ErrorCode.NotEmpty, $"storage element '{name}' still holds replicas", "name");
        await cache.InvalidateAllAsync(CacheSpace.File, CacheSpace.Dataset);
        await audit.RecordAsync(caller, "se.delete", null, "deleted", new() { ["se"] = name });
    }
}
