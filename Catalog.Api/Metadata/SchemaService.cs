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

namespace Catalog.Api.Metadata;

/// <summary>
/// Attribute declarations (admin only). A declaration on a directory applies to its subtree and
/// rewrites no rows, so declaring on a collection of a million files is one insert; an indexed
/// attribute also builds its expression index (concurrently, after the declaration commits).
/// </summary>
public sealed class SchemaService(Db db, IOptions<CatalogOptions> options, Access access, AuditLog audit,
    ILogger<SchemaService> log, HotCache cache)
{
    public async Task<SchemaInForce> DeclareAsync(AttributeSpec spec, Caller caller, CancellationToken ct)
    {
        var dir = Lfn.Parse(spec.Path, options.Value.Roots, "path");
        access.DemandRole(caller, Role.Admin, "declare attributes");
        if (spec.Name is not { } name || !AttributeSchema.IsValidName(name))
            throw CatalogException.Invalid("name", "must be letters, digits and '_', starting with a letter (at most 63)");
        if (AttributeQueryNames.IsBuiltIn(name)) throw CatalogException.Invalid("name", $"'{name}' is a built-in name");
        if (spec.Type is not { } type || !Enum.IsDefined(type)) throw CatalogException.Invalid("type", "must be integer, float, string, boolean or timestamp");
        var target = spec.Target ?? AttributeTarget.Files;
        if (!Enum.IsDefined(target)) throw CatalogException.Invalid("target", "must be files or directories");
        var pattern = spec.Pattern;
        if (pattern is not null)
        {
            if (type != AttributeType.String) throw CatalogException.Invalid("pattern", "applies to string attributes only");
            if (pattern.Length is 0 or > 500) throw CatalogException.Invalid("pattern", "must be 1 to 500 characters");
            if (AttributeSchema.CompilePattern(pattern) is null) throw CatalogException.Invalid("pattern", $"'{pattern}' is not a valid regular expression");
        }
        string? allowed = null;
        if (spec.Allowed is { } values)
        {
            if (values.Count is 0 or > 1000) throw CatalogException.Invalid("allowed", "must hold 1 to 1000 values");
            allowed = NormalizeAllowed(values, type, pattern, []).ToJsonString();
        }

        var changed = await db.WriteAsync(async (conn, tx) =>
        {
            var row = await DirectoryStore.GetAsync(conn, tx, dir.Path, ct, forUpdate: true)
                ?? throw CatalogException.NotFound($"directory '{dir.Path}'", "path");
            var inForce = (await AttributeSchema.LoadAsync(conn, tx, [dir.Path], ct))[dir.Path];
            if (inForce.Attributes.TryGetValue(name, out var existing))
            {
                // Declaring again exactly what is declared here succeeds and changes nothing (setup
                // scripts and READMEs can be run twice); anything else is a conflict naming the difference.
                if (existing.DefinedAt == dir.Path && existing.Type == type && existing.Target == target && existing.Indexed == spec.Indexed
                    && existing.Pattern == pattern
                    && (existing.Allowed is null ? allowed is null : allowed == new JsonArray(existing.Allowed.Select(v => v?.DeepClone()).ToArray()).ToJsonString()))
                    return false;
                throw new CatalogException(ErrorCode.Conflict, existing.DefinedAt == dir.Path
                    ? $"attribute '{name}' is already declared at {existing.DefinedAt} as {Describe(existing)}; this asks for {Describe(type, target, allowed is not null, spec.Indexed)}"
                    : $"attribute '{name}' is already declared at {existing.DefinedAt}", "name");
            }
            if ((await MetadataStore.DefinitionsBelowAsync(conn, tx, [dir.Path], name, ct)).FirstOrDefault() is { } below)
                throw new CatalogException(ErrorCode.Conflict, $"attribute '{name}' is already declared below, at {below.Path}", "name");
            await MetadataStore.InsertDefinitionAsync(conn, tx, row.Id, name, (short)target, (short)type, allowed, spec.Indexed, pattern, ct);
            return true;
        }, ct);
        if (!changed) return await InForceAsync(dir.Path, caller, ct);
        if (spec.Indexed) await EnsureIndexAsync(name, type, target, ct);
        await cache.InvalidateAllAsync(CacheSpace.Schema); // a declaration holds for a whole subtree
        await audit.RecordAsync(caller, "attribute.declare", dir.Path, "declared",
            new() { ["name"] = name, ["type"] = Mapping.Wire(type), ["target"] = Mapping.Wire(target) });
        return await InForceAsync(dir.Path, caller, ct);
    }

    /// <summary>The directory (locked) and the declaration of <paramref name="name"/> made on it: 404 when none is in force, 409 when it is made above.</summary>
    private static async Task<(DirectoryRow Row, AttributeDefinition Definition)> DeclaredHereAsync(
        Npgsql.NpgsqlConnection conn, Npgsql.NpgsqlTransaction tx, string path, string name, CancellationToken ct)
    {
        var row = await DirectoryStore.GetAsync(conn, tx, path, ct, forUpdate: true) ?? throw CatalogException.NotFound($"directory '{path}'", "path");
        var inForce = (await AttributeSchema.LoadAsync(conn, tx, [path], ct))[path];
        if (!inForce.Attributes.TryGetValue(name, out var def)) throw CatalogException.NotFound($"attribute '{name}' at '{path}'", "name");
        if (def.DefinedAt != path) throw new CatalogException(ErrorCode.Conflict, $"attribute '{name}' is declared at {def.DefinedAt}, not here", "path");
        return (row, def);
    }

    private static string Describe(AttributeDefinition d) => Describe(d.Type, d.Target, d.Allowed is not null, d.Indexed, d.Pattern);

    private static string Describe(AttributeType type, AttributeTarget target, bool allowedList, bool indexed, string? pattern = null) =>
        $"{Mapping.Wire(type)} on {Mapping.Wire(target)}{(allowedList ? " with allowed values" : "")}{(pattern is null ? "" : $" matching {pattern}")}{(indexed ? ", indexed" : "")}";

    /// <summary>
    /// Allowed values normalized to the type (and checked against the pattern), appended to
    /// <paramref name="existing"/> without duplicates; refusals name the item.
    /// </summary>
    private static JsonArray NormalizeAllowed(IReadOnlyList<JsonNode?> values, AttributeType type, string? pattern, IEnumerable<JsonNode?> existing)
    {
        var result = new JsonArray(existing.Select(v => v?.DeepClone()).ToArray());
        for (var i = 0; i < values.Count; i++)
        {
            var n = values[i] is { } v ? AttributeSchema.Normalize(type, v) : null;
            if (n is null) throw CatalogException.Invalid($"allowed[{i}]", $"{Schema.Describe(values[i])} is not a valid {Mapping.Wire(type)}");
            if (pattern is not null && !AttributeSchema.MatchesPattern(pattern, n.GetValue<string>()))
                throw CatalogException.Invalid($"allowed[{i}]", $"{Schema.Describe(values[i])} does not match the pattern {pattern}");
            if (!result.Any(a => JsonNode.DeepEquals(a, n))) result.Add(n);
        }
        return result;
    }

    /// <summary>
    /// Adds values to the allowed list of a declaration made at the path (admin). Values are only
    /// ever added: every stored value stays valid, so no row is checked or rewritten.
    /// </summary>
    public async Task<SchemaInForce> ExtendAllowedAsync(AllowedValuesRequest request, Caller caller, CancellationToken ct)
    {
        var dir = Lfn.Parse(request.Path, options.Value.Roots, "path");
        access.DemandRole(caller, Role.Admin, "change attribute declarations");
        if (request.Name is not { } name) throw CatalogException.Invalid("name", "is required");
        if (request.Allowed is not { Count: > 0 } values) throw CatalogException.Invalid("allowed", "give at least one value to add");
        var added = 0;
        await db.WriteAsync(async (conn, tx) =>
        {
            var (row, def) = await DeclaredHereAsync(conn, tx, dir.Path, name, ct);
            if (def.Allowed is null)
                throw new CatalogException(ErrorCode.Conflict, $"attribute '{name}' has no allowed-value list: every {Mapping.Wire(def.Type)} is allowed already", "allowed");
            var merged = NormalizeAllowed(values, def.Type, def.Pattern, def.Allowed);
            if (merged.Count > 1000) throw CatalogException.Invalid("allowed", $"at most 1000 allowed values ({merged.Count} asked)");
            added = merged.Count - def.Allowed.Count;
            if (added > 0) await MetadataStore.SetAllowedAsync(conn, tx, row.Id, name, merged.ToJsonString(), ct);
            return true;
        }, ct);
        if (added > 0)
        {
            await cache.InvalidateAllAsync(CacheSpace.Schema);
            await audit.RecordAsync(caller, "attribute.extend", dir.Path, "changed", new() { ["name"] = name, ["added"] = added.ToString() });
        }
        return await InForceAsync(dir.Path, caller, ct);
    }

    public async Task<SchemaInForce> InForceAsync(string? path, Caller caller, CancellationToken ct)
    {
        var dir = Lfn.Parse(path, options.Value.Roots, "path");
        access.Demand(caller, Operation.Read, dir.Path, "path");
        // The schema in force is shared by every caller who may see the directory; the rest are told it does not exist.
        if (!caller.BypassesModes)
            await using (var conn = await db.OpenAsync(ct))
                if (await DirectoryStore.GetAsync(conn, null, dir.Path, ct) is not { } row || !await Access.CanSeeAsync(conn, null, caller, row, ct))
                    throw CatalogException.NotFound($"directory '{dir.Path}'", "path");
        return (await cache.GetOrLoadAsync(CacheSpace.Schema, dir.Path, async () =>
        {
            await using var conn = await db.OpenAsync(CancellationToken.None);
            if (await DirectoryStore.GetAsync(conn, null, dir.Path, CancellationToken.None) is null) return null;
            return (await AttributeSchema.LoadAsync(conn, null, [dir.Path], CancellationToken.None))[dir.Path].ToContract();
        }, ct)) ?? throw CatalogException.NotFound($"directory '{dir.Path}'", "path");
    }

    /// <summary>Removes a declaration made at <paramref name="path"/>; refused while values of it exist below.</summary>
    public async Task<SchemaInForce> RemoveAsync(string? path, string? name, Caller caller, CancellationToken ct)
    {
        var dir = Lfn.Parse(path, options.Value.Roots, "path");
        access.DemandRole(caller, Role.Admin, "remove attributes");
        if (name is null) throw CatalogException.Invalid("name", "is required");
        await db.WriteAsync(async (conn, tx) =>
        {
            var (row, def) = await DeclaredHereAsync(conn, tx, dir.Path, name, ct);
            if (await MetadataStore.AnyValueAsync(conn, tx, dir.Path, name, def.Target == AttributeTarget.Files, ct))
                throw new CatalogException(ErrorCode.Conflict, $"entries under '{dir.Path}' still carry '{name}'; remove the values first", "name");
            await MetadataStore.DeleteDefinitionAsync(conn, tx, row.Id, name, ct);
            return true;
        }, ct);
        await cache.InvalidateAllAsync(CacheSpace.Schema);
        await audit.RecordAsync(caller, "attribute.remove", dir.Path, "removed", new() { ["name"] = name });
        return await InForceAsync(dir.Path, caller, ct);
    }

    public async Task<SchemaInForce> SetPolicyAsync(PolicyRequest request, Caller caller, CancellationToken ct)
    {
        var dir = Lfn.Parse(request.Path, options.Value.Roots, "path");
        access.DemandRole(caller, Role.Admin, "set metadata policies");
        await db.WriteAsync(async (conn, tx) =>
        {
            var row = await DirectoryStore.GetAsync(conn, tx, dir.Path, ct) ?? throw CatalogException.NotFound($"directory '{dir.Path}'", "path");
            await MetadataStore.SetPolicyAsync(conn, tx, row.Id, request.Permissive, ct);
            return true;
        }, ct);
        await cache.InvalidateAllAsync(CacheSpace.Schema);
        await audit.RecordAsync(caller, "attribute.policy", dir.Path, request.Permissive ? "permissive" : "strict");
        return await InForceAsync(dir.Path, caller, ct);
    }

    /// <summary>Builds the attribute's expression index (<see cref="MetadataQueryStore.EnsureAttributeIndexAsync"/>).</summary>
    private async Task EnsureIndexAsync(string name, AttributeType type, AttributeTarget target, CancellationToken ct)
    {
        var onFiles = target == AttributeTarget.Files;
        var expression = AttributeQueryNames.ValueExpression(onFiles ? "metadata" : "eff_metadata", name, type);
        await using var conn = await db.OpenAsync(ct);
        try
        {
            await MetadataQueryStore.EnsureAttributeIndexAsync(conn, onFiles, name, Mapping.Wire(type), expression, ct);
        }
        catch (PostgresException e)
        {
            log.LogError(e, "Could not build the index of attribute {Name}", name);
            throw new CatalogException(ErrorCode.Internal, $"the attribute is declared but its index could not be built: {e.MessageText}");
        }
    }
}
