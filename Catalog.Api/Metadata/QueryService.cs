using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Catalog.Api.Errors;
using Catalog.Api.Hosting;
using Catalog.Api.Http;
using Catalog.Api.Metadata.Query;
using Catalog.Api.Namespace;
using Catalog.Api.Security;
using Catalog.Contracts;
using Catalog.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Catalog.Api.Metadata;

/// <summary>
/// Runs the query language over files or datasets under a path (or a collection), returning
/// cursor pages or a stream, and facets: the request is checked and compiled here, the SQL shapes
/// are <see cref="MetadataQueryStore"/>'s. See docs/QUERY.md.
/// </summary>
public sealed class QueryService(Db db, IOptions<CatalogOptions> options, Access access)
{
    public const int MaxAttributes = 40;
    private const int DefaultLimit = 1000;

    /// <summary>No condition: every file (or dataset) in scope, for listings.</summary>
    public sealed record Everything() : Node(0);

    public async Task<QueryPage> PageAsync(QueryRequest request, Caller caller, CancellationToken ct, Node? tree = null)
    {
        var limit = options.Value.PageSize(request.Limit, DefaultLimit);
        await using var conn = await db.OpenAsync(ct);
        var (query, after) = await CompileAsync(conn, request, caller, ct, tree);
        var rows = new List<QueryRow>(limit);
        string? last = null;
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        await foreach (var match in MetadataQueryStore.ReadAsync(conn, query, after, limit, ct))
        {
            rows.Add(new QueryRow(match.Path, match.HasAttributes ? Attributes(match, buffer) : null));
            last = match.Path;
        }
        return new QueryPage(rows, rows.Count == limit ? Cursor.Encode(last!) : null);
    }

    /// <summary>
    /// Every match, streamed as the database returns it (no page in memory), each written by
    /// <see cref="WriteRow"/> before the next is read.
    /// </summary>
    public async IAsyncEnumerable<QueryMatch> StreamAsync(QueryRequest request, Caller caller, [EnumeratorCancellation] CancellationToken ct)
    {
        await using var conn = await db.OpenAsync(ct);
        var (query, after) = await CompileAsync(conn, request, caller, ct);
        await foreach (var match in MetadataQueryStore.ReadAsync(conn, query, after, null, ct)) yield return match;
    }

    /// <summary>
    /// EXPLAIN ANALYZE of the SQL a request compiles to (admin only), optionally with index scans
    /// disabled, so a plan can be compared with the sequential scan it saves.
    /// </summary>
    public async Task<IReadOnlyList<string>> ExplainAsync(QueryRequest request, bool forceSequentialScan, Caller caller, CancellationToken ct)
    {
        access.DemandRole(caller, Role.Admin, "explain queries");
        await using var conn = await db.OpenAsync(ct);
        var (query, after) = await CompileAsync(conn, request, caller, ct);
        return await MetadataQueryStore.ExplainAsync(conn, query, after, request.Limit ?? DefaultLimit, forceSequentialScan, ct);
    }

    /// <summary>Checks the request (throwing 400s with positions) before any streaming begins.</summary>
    public async Task ValidateAsync(QueryRequest request, Caller caller, CancellationToken ct)
    {
        await using var conn = await db.OpenAsync(ct);
        await CompileAsync(conn, request, caller, ct);
    }

    /// <summary>
    /// Distinct values with counts of chosen attributes over a query's matches (all of the scope
    /// without a query).
    /// </summary>
    public async Task<FacetResponse> FacetsAsync(FacetRequest request, Caller caller, CancellationToken ct)
    {
        await using var conn = await db.OpenAsync(ct);
        var (query, top) = await CompileFacetsAsync(conn, request, caller, ct);
        var (total, found) = await MetadataQueryStore.FacetsAsync(conn, query, top, ct);
        var values = query.Attributes.ToDictionary(a => a.Name, _ => new List<FacetValue>(), StringComparer.Ordinal);
        foreach (var (attr, value, count) in found) values[attr].Add(new FacetValue(value is null ? null : JsonNode.Parse(value), count));
        return new FacetResponse(total, query.Attributes.Select(a => new Facet(a.Name, values[a.Name])).ToList());
    }

    /// <summary>EXPLAIN ANALYZE of a facet request's SQL (admin only).</summary>
    public async Task<IReadOnlyList<string>> ExplainFacetsAsync(FacetRequest request, bool forceSequentialScan, Caller caller, CancellationToken ct)
    {
        access.DemandRole(caller, Role.Admin, "explain queries");
        await using var conn = await db.OpenAsync(ct);
        var (query, top) = await CompileFacetsAsync(conn, request, caller, ct);
        return await MetadataQueryStore.ExplainFacetsAsync(conn, query, top, forceSequentialScan, ct);
    }

    /// <summary>
    /// The request checked and compiled, with its decoded cursor; <paramref name="tree"/> replaces
    /// the query text and filters (listings: <see cref="Everything"/>).
    /// </summary>
    private async Task<(CompiledQuery Query, string After)> CompileAsync(NpgsqlConnection conn, QueryRequest request, Caller caller,
        CancellationToken ct, Node? tree = null)
    {
        var (scopes, attributes, viewer) = await PrepareAsync(conn, request.Under, caller, ct);
        tree ??= Filters.TreeOf(request.Query, request.Filters);
        var compiler = new Compiler(attributes, request.Target);
        string? dirPart = null, others = null;
        List<Projection> selected;
        try
        {
            if (tree is not Everything) (dirPart, others) = compiler.Compile(tree);
            selected = Select(request.Attributes, compiler);
        }
        catch (QueryException e) { throw e.ToCatalogException(); }
        // The cursor is the last LFN (its directory, then its name) or, for datasets, the last LPN.
        var after = Cursor.Decode(request.After);
        if (request.Target == QueryTarget.Files && after.Length > 0 && after.LastIndexOf('/') < 0)
            throw CatalogException.Invalid("after", "is not a cursor from a previous page");
        return (new CompiledQuery(request.Target == QueryTarget.Datasets, scopes, dirPart, others, compiler.Parameters.ToList(), selected, viewer), after);
    }

    private async Task<(CompiledQuery Query, int Top)> CompileFacetsAsync(NpgsqlConnection conn, FacetRequest request, Caller caller, CancellationToken ct)
    {
        var names = request.Attributes ?? throw CatalogException.Invalid("attributes", "is required");
        if (names.Count is 0 or > 20) throw new CatalogException(ErrorCode.LimitExceeded, "attributes: 1 to 20 attributes", "attributes");
        var top = options.Value.PageSize(request.Limit, 100);
        var (scopes, attributes, viewer) = await PrepareAsync(conn, request.Under, caller, ct);
        var compiler = new Compiler(attributes, request.Target);
        string? dirPart = null, others = null;
        List<Projection> facets;
        try
        {
            if (!string.IsNullOrWhiteSpace(request.Query)) (dirPart, others) = compiler.Compile(Parser.Parse(request.Query));
            facets = Select(names, compiler);
        }
        catch (QueryException e) { throw e.ToCatalogException(); }
        foreach (var f in facets)
            if (f.BuiltIn) throw CatalogException.Invalid("attributes", $"'{f.Name}' is built in; facets are over declared attributes");
        return (new CompiledQuery(request.Target == QueryTarget.Datasets, scopes, dirPart, others, compiler.Parameters.ToList(), facets, viewer), top);
    }

    /// <summary>
    /// Scope (a path, or the datasets a collection holds), permission, the attributes usable there,
    /// and the viewer that keeps out of the answer what the caller may not see.
    /// </summary>
    internal async Task<(string[] Scopes, Dictionary<string, AttributeDefinition> Attributes, Viewer? Viewer)> PrepareAsync(
        NpgsqlConnection conn, string? under, Caller caller, CancellationToken ct)
    {
        var path = Lfn.Parse(under ?? options.Value.Roots[0], options.Value.Roots, "under");
        access.Demand(caller, Operation.Read, path.Path, "under");
        // A path that does not exist, or that the caller may not see, is a 404, not an empty
        // answer (which would read as "nothing matches").
        var dir = await DirectoryStore.GetAsync(conn, null, path.Path, ct);
        if (dir is null || !await Access.CanSeeAsync(conn, null, caller, dir, ct))
            throw CatalogException.NotFound($"directory or collection '{path.Path}'", "under");
        var scopes = await Datasets.CollectionService.ExpandAsync(conn, path.Path, ct) ?? [path.Path];
        foreach (var scope in scopes)
            if (access.Check(caller, Operation.Read, scope) is { } refused) throw new CatalogException(refused.Code, refused.Message, "under");
        var attributes = new Dictionary<string, AttributeDefinition>(StringComparer.Ordinal);
        var ancestors = scopes.SelectMany(Lfn.Ancestry).Distinct().ToArray();
        foreach (var d in await MetadataStore.DefinitionsOnAsync(conn, null, ancestors, ct)) attributes.TryAdd(d.Name, AttributeSchema.ToContract(d));
        foreach (var d in await MetadataStore.DefinitionsBelowAsync(conn, null, scopes, null, ct))
            attributes.TryAdd(d.Name, AttributeSchema.ToContract(d));
        return (scopes, attributes, await access.ViewerAsync(conn, null, caller, scopes, ct));
    }

    private static List<Projection> Select(IReadOnlyList<string>? names, Compiler compiler)
    {
        if (names is null) return [];
        if (names.Count > MaxAttributes) throw new CatalogException(ErrorCode.LimitExceeded, $"attributes: at most {MaxAttributes}", "attributes");
        return names.Distinct(StringComparer.Ordinal).Select((n, i) =>
        {
            if (!AttributeSchema.IsValidName(n)) throw CatalogException.Invalid($"attributes[{i}]", $"'{n}' is not an attribute name");
            try
            {
                var r = compiler.Resolve(n, 0);
                return new Projection(n, r.BuiltIn, r.Expression, r.JsonColumn, r.DirectoryLevel);
            }
            catch (QueryException e) { throw CatalogException.Invalid($"attributes[{i}]", e.Reason); }
        }).ToList();
    }

    /// <summary>A match as a <see cref="QueryRow"/> is written (the attributes left out without any).</summary>
    public static void WriteRow(System.Text.Json.Utf8JsonWriter writer, QueryMatch match)
    {
        writer.WriteStartObject();
        writer.WriteString("path", match.Path);
        if (match.HasAttributes)
        {
            writer.WritePropertyName("attributes");
            match.WriteAttributes(writer);
        }
        writer.WriteEndObject();
    }

    private static JsonObject Attributes(QueryMatch match, System.Buffers.ArrayBufferWriter<byte> buffer)
    {
        buffer.ResetWrittenCount();
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer)) match.WriteAttributes(writer);
        return JsonNode.Parse(buffer.WrittenSpan)!.AsObject();
    }
}
