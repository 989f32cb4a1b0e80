using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Catalog.Contracts;

namespace Catalog.Client;

/// <summary>
/// The typed client of the catalog's REST API. Every other module (load tests, production,
/// transfers, monitoring) talks to the server through this class. Thread-safe; share one
/// instance per <see cref="HttpClient"/>.
/// </summary>
public sealed class CatalogClient
{
    private static readonly JsonSerializerOptions Json = CatalogJson.Options;
    private readonly bool addIdempotencyKeys;

    /// <summary>
    /// Wraps an <see cref="HttpClient"/> configured elsewhere (for example by IHttpClientFactory
    /// with <see cref="CatalogResilience.CreateHandler"/> in its pipeline).
    /// </summary>
    public CatalogClient(HttpClient http, bool addIdempotencyKeys = true)
    {
        Http = http;
        this.addIdempotencyKeys = addIdempotencyKeys;
    }

    /// <summary>
    /// A client with the retry policy, timeouts and token of <paramref name="options"/>.
    /// <paramref name="transport"/> replaces the socket handler (tests pass an in-process server's).
    /// </summary>
    public static CatalogClient Create(CatalogClientOptions options, HttpMessageHandler? transport = null)
    {
        var resilience = CatalogResilience.CreateHandler(options);
        resilience.InnerHandler = transport ?? new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            MaxConnectionsPerServer = 256,
            AutomaticDecompression = System.Net.DecompressionMethods.All,
        };
        var http = new HttpClient(resilience) { BaseAddress = options.BaseAddress, Timeout = options.Timeout };
        if (options.Token is { Length: > 0 } token)
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        http.DefaultRequestHeaders.UserAgent.ParseAdd($"catalog-client/{typeof(CatalogClient).Assembly.GetName().Version}");
        return new CatalogClient(http, options.AddIdempotencyKeys);
    }

    /// <summary>The underlying HTTP client.</summary>
    public HttpClient Http { get; }

    /// <summary>Lists all storage elements with their usage.</summary>
    public Task<IReadOnlyList<StorageElement>> ListStorageElementsAsync(CancellationToken ct = default) =>
        GetAsync<IReadOnlyList<StorageElement>>("api/v1/storage-elements", ct);

    /// <summary>The SEs an expression selects (tier=1&amp;region!=asia, site=KEK, a name, ...), as the server evaluates it.</summary>
    public Task<IReadOnlyList<StorageElement>> ListStorageElementsAsync(string expression, CancellationToken ct = default) =>
        GetAsync<IReadOnlyList<StorageElement>>($"api/v1/storage-elements?expression={Uri.EscapeDataString(expression)}", ct);

    /// <summary>Sets files' status or corrects a size or checksum, per item, each with an audited reason (data managers).</summary>
    public Task<CorrectionResponse> CorrectFilesAsync(IEnumerable<FileCorrection> items, CancellationToken ct = default) =>
        SendAsync<CorrectionResponse>(HttpMethod.Post, "api/v1/files/correct", new CorrectionRequest(items.ToList<FileCorrection?>()), ct, repeatable: true);

    /// <summary>Renames an SE; every replica stays on it (data managers).</summary>
    public Task<StorageElement> RenameStorageElementAsync(string name, string to, CancellationToken ct = default) =>
        SendAsync<StorageElement>(HttpMethod.Post, $"api/v1/storage-elements/{Uri.EscapeDataString(name)}/rename", new RenameRequest(to), ct);

    /// <summary>Reads one storage element.</summary>
    public Task<StorageElement> GetStorageElementAsync(string name, CancellationToken ct = default) =>
        GetAsync<StorageElement>($"api/v1/storage-elements/{Uri.EscapeDataString(name)}", ct);

    /// <summary>Creates or replaces a storage element.</summary>
    public Task<StorageElement> PutStorageElementAsync(string name, StorageElementSpec spec, CancellationToken ct = default) =>
        SendAsync<StorageElement>(HttpMethod.Put, $"api/v1/storage-elements/{Uri.EscapeDataString(name)}", spec, ct);

    /// <summary>
    /// Every replica the catalog places on an SE (LFN, size, Adler-32, state; the PFN when it is not
    /// the SE's base URL + LFN), streamed: what a consistency check compares with the SE's own listing.
    /// </summary>
    public IAsyncEnumerable<SeReplica> DumpStorageElementAsync(string name, CancellationToken ct = default) =>
        StreamAsync<SeReplica>($"api/v1/storage-elements/{Uri.EscapeDataString(name)}/replicas", null, ct);

    /// <summary>Deletes a storage element that holds no replicas.</summary>
    public async Task DeleteStorageElementAsync(string name, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, $"api/v1/storage-elements/{Uri.EscapeDataString(name)}");
        using var response = await SendCoreAsync(request, ct);
        await EnsureSuccessAsync(response, ct);
    }

    /// <summary>Creates a directory (with <paramref name="parents"/>, its missing ancestors too); existing ones succeed.</summary>
    public Task<Entry> MakeDirectoryAsync(string path, bool parents = false, int? mode = null, CancellationToken ct = default) =>
        SendAsync<Entry>(HttpMethod.Post, "api/v1/directories", new MakeDirectoryRequest(path, parents, mode), ct, repeatable: true);

    /// <summary>Reads one page of a directory listing.</summary>
    public Task<DirectoryPage> ListPageAsync(string path, string? after = null, int? limit = null, CancellationToken ct = default) =>
        GetAsync<DirectoryPage>($"api/v1/directories?path={Uri.EscapeDataString(path)}"
            + (after is null ? "" : $"&after={Uri.EscapeDataString(after)}") + (limit is null ? "" : $"&limit={limit}"), ct);

    /// <summary>Streams a whole directory page by page; at most one page is held in memory.</summary>
    public async IAsyncEnumerable<Entry> ListAsync(string path, int pageSize = 1000, [EnumeratorCancellation] CancellationToken ct = default)
    {
        string? after = null;
        do
        {
            var page = await ListPageAsync(path, after, pageSize, ct);
            foreach (var entry in page.Entries) yield return entry;
            after = page.Next;
        } while (after is not null);
    }

    /// <summary>Reads a file or directory entry.</summary>
    public Task<Entry> StatAsync(string path, CancellationToken ct = default) =>
        GetAsync<Entry>($"api/v1/namespace/stat?path={Uri.EscapeDataString(path)}", ct);

    /// <summary>Renames or moves a file or a directory subtree.</summary>
    public Task<Entry> MoveAsync(string from, string to, CancellationToken ct = default) =>
        SendAsync<Entry>(HttpMethod.Post, "api/v1/namespace/move", new MoveRequest(from, to), ct);

    /// <summary>Removes paths, per item; directories with content only when <paramref name="recursive"/>.</summary>
    public Task<RemoveResponse> RemoveAsync(IEnumerable<string> paths, bool recursive = false, CancellationToken ct = default) =>
        SendAsync<RemoveResponse>(HttpMethod.Post, "api/v1/namespace/remove", new RemoveRequest(paths.ToList<string?>(), recursive), ct, repeatable: true);

    /// <summary>Sets the permission bits of a file or directory (its owner, a data manager or an admin).</summary>
    public Task<Entry> ChangeModeAsync(string path, int mode, CancellationToken ct = default) =>
        SendAsync<Entry>(HttpMethod.Post, "api/v1/namespace/chmod", new ChangeModeRequest(path, mode), ct, repeatable: true);

    /// <summary>Gives a file or directory another owner and/or group (data managers and admins).</summary>
    public Task<Entry> ChangeOwnerAsync(string path, string? owner, string? group, CancellationToken ct = default) =>
        SendAsync<Entry>(HttpMethod.Post, "api/v1/namespace/chown", new ChangeOwnerRequest(path, owner, group), ct, repeatable: true);

    /// <summary>
    /// chmod of a directory and everything below it (data managers and admins); files get the mode
    /// without its x bits. Answers the directory.
    /// </summary>
    public Task<Entry> ChangeModeAsync(string path, int mode, bool recursive, CancellationToken ct = default) =>
        SendAsync<Entry>(HttpMethod.Post, "api/v1/namespace/chmod", new ChangeModeRequest(path, mode, recursive), ct, repeatable: true);

    /// <summary>chown of a directory and everything below it (data managers and admins). Answers the directory.</summary>
    public Task<Entry> ChangeOwnerAsync(string path, string? owner, string? group, bool recursive, CancellationToken ct = default) =>
        SendAsync<Entry>(HttpMethod.Post, "api/v1/namespace/chown", new ChangeOwnerRequest(path, owner, group, recursive), ct, repeatable: true);

    /// <summary>The identity, roles, scopes and groups the server sees for this client's token.</summary>
    public Task<WhoAmI> WhoAmIAsync(CancellationToken ct = default) => GetAsync<WhoAmI>("api/v1/whoami", ct);

    /// <summary>Issues a token (admin only); the answer carries the token, which is shown only once.</summary>
    public Task<IssuedToken> IssueTokenAsync(TokenRequest request, CancellationToken ct = default) =>
        SendAsync<IssuedToken>(HttpMethod.Post, "api/v1/tokens", request, ct);

    /// <summary>Tokens the catalog issued, optionally for one subject (admin only).</summary>
    public Task<IReadOnlyList<IssuedToken>> ListTokensAsync(string? subject = null, CancellationToken ct = default) =>
        GetAsync<IReadOnlyList<IssuedToken>>("api/v1/tokens" + (subject is null ? "" : $"?subject={Uri.EscapeDataString(subject)}"), ct);

    /// <summary>Revokes a token by id (admin only).</summary>
    public async Task<IssuedToken> RevokeTokenAsync(Guid id, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, $"api/v1/tokens/{id}");
        using var response = await SendCoreAsync(request, ct);
        return await ReadAsync<IssuedToken>(response, ct);
    }

    /// <summary>One page of the audit trail (admin only): writes at or under <paramref name="path"/>, by <paramref name="subject"/>, in [from, to).</summary>
    public Task<AuditPage> AuditAsync(string? path = null, string? subject = null, DateTimeOffset? from = null, DateTimeOffset? to = null,
        long? after = null, int? limit = null, CancellationToken ct = default)
    {
        var query = new List<string>();
        if (path is not null) query.Add($"path={Uri.EscapeDataString(path)}");
        if (subject is not null) query.Add($"subject={Uri.EscapeDataString(subject)}");
        if (from is not null) query.Add($"from={Uri.EscapeDataString(from.Value.ToString("O"))}");
        if (to is not null) query.Add($"to={Uri.EscapeDataString(to.Value.ToString("O"))}");
        if (after is not null) query.Add($"after={after}");
        if (limit is not null) query.Add($"limit={limit}");
        return GetAsync<AuditPage>("api/v1/audit" + (query.Count == 0 ? "" : "?" + string.Join('&', query)), ct);
    }

    /// <summary>Declares a typed attribute on a directory for its subtree (admin).</summary>
    public Task<SchemaInForce> DeclareAttributeAsync(AttributeSpec spec, CancellationToken ct = default) =>
        SendAsync<SchemaInForce>(HttpMethod.Post, "api/v1/schema", spec, ct);

    /// <summary>Adds values to the allowed list of a declaration made at a path (admin); adding one already allowed changes nothing.</summary>
    public Task<SchemaInForce> ExtendAllowedValuesAsync(string path, string name, IEnumerable<System.Text.Json.Nodes.JsonNode?> values, CancellationToken ct = default) =>
        SendAsync<SchemaInForce>(HttpMethod.Post, "api/v1/schema/allowed", new AllowedValuesRequest(path, name, values.ToList()), ct, repeatable: true);

    /// <summary>The attributes in force at a path and its policy.</summary>
    public Task<SchemaInForce> GetSchemaAsync(string path, CancellationToken ct = default) =>
        GetAsync<SchemaInForce>($"api/v1/schema?path={Uri.EscapeDataString(path)}", ct);

    /// <summary>Removes a declaration made at <paramref name="path"/> (admin); refused while values of it exist.</summary>
    public async Task<SchemaInForce> RemoveAttributeAsync(string path, string name, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, $"api/v1/schema?path={Uri.EscapeDataString(path)}&name={Uri.EscapeDataString(name)}");
        using var response = await SendCoreAsync(request, ct);
        return await ReadAsync<SchemaInForce>(response, ct);
    }

    /// <summary>Makes a subtree permissive (undeclared attributes allowed) or strict (admin).</summary>
    public Task<SchemaInForce> SetMetadataPolicyAsync(string path, bool permissive, CancellationToken ct = default) =>
        SendAsync<SchemaInForce>(HttpMethod.Put, "api/v1/schema/policy", new PolicyRequest(path, permissive), ct);

    /// <summary>Sets values on files and directories (a null value removes one), answered per item.</summary>
    public Task<MetadataResponse> SetMetadataAsync(IEnumerable<MetadataWrite> items, CancellationToken ct = default) =>
        SendAsync<MetadataResponse>(HttpMethod.Post, "api/v1/metadata", new MetadataWriteRequest(items.ToList<MetadataWrite?>()), ct, repeatable: true);

    /// <summary>Own and effective values of files and directories, per item.</summary>
    public Task<MetadataResponse> GetMetadataAsync(IEnumerable<string> paths, CancellationToken ct = default) =>
        SendAsync<MetadataResponse>(HttpMethod.Post, "api/v1/metadata/get", new MetadataReadRequest(paths.ToList<string?>()), ct, repeatable: true);

    /// <summary>One page of a metadata query; pass <see cref="QueryPage.Next"/> as <see cref="QueryRequest.After"/> for the next.</summary>
    public Task<QueryPage> QueryAsync(QueryRequest request, CancellationToken ct = default) =>
        SendAsync<QueryPage>(HttpMethod.Post, "api/v1/query", request, ct, repeatable: true);

    /// <summary>Every match of a query, read as the server streams it.</summary>
    public IAsyncEnumerable<QueryRow> QueryAllAsync(QueryRequest request, CancellationToken ct = default) =>
        StreamAsync<QueryRow>("api/v1/query/stream", request, ct);

    /// <summary>
    /// Every match of a query with its size, Adler-32 and replicas in every state (the built-ins
    /// <c>size</c>, <c>adler32</c> and <c>replicas</c>; other attributes asked for are not read),
    /// typed and in one stream: what a replication service needs of a dataset, without a lookup after it.
    /// </summary>
    public IAsyncEnumerable<FileReplicasRow> QueryReplicasAsync(QueryRequest request, CancellationToken ct = default) =>
        StreamAsync<FileReplicasRow>("api/v1/query/stream", request with { Target = QueryTarget.Files, Attributes = ReplicaAttributes }, ct);

    private static readonly string[] ReplicaAttributes = ["size", "adler32", "replicas"];

    /// <summary>EXPLAIN ANALYZE of a query's SQL (admin); <paramref name="forceSequentialScan"/> disables index scans for comparison.</summary>
    public Task<IReadOnlyList<string>> ExplainQueryAsync(QueryRequest request, bool forceSequentialScan = false, CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<string>>(HttpMethod.Post, $"api/v1/query/explain?seqscan={(forceSequentialScan ? "true" : "false")}", request, ct, repeatable: true);

    /// <summary>EXPLAIN ANALYZE of a facet request's SQL (admin).</summary>
    public Task<IReadOnlyList<string>> ExplainFacetsAsync(FacetRequest request, bool forceSequentialScan = false, CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<string>>(HttpMethod.Post, $"api/v1/facets/explain?seqscan={(forceSequentialScan ? "true" : "false")}", request, ct, repeatable: true);

    /// <summary>Distinct values with counts of chosen attributes over a query's matches.</summary>
    public Task<FacetResponse> FacetsAsync(FacetRequest request, CancellationToken ct = default) =>
        SendAsync<FacetResponse>(HttpMethod.Post, "api/v1/facets", request, ct, repeatable: true);

    /// <summary>Marks a directory as a dataset (creating it if needed), with its own metadata.</summary>
    public Task<DatasetInfo> CreateDatasetAsync(DatasetRequest request, CancellationToken ct = default) =>
        SendAsync<DatasetInfo>(HttpMethod.Post, "api/v1/datasets", request, ct, repeatable: true);

    /// <summary>Datasets at or below a path, by path.</summary>
    public Task<IReadOnlyList<DatasetInfo>> ListDatasetsAsync(string under, string? after = null, int? limit = null, CancellationToken ct = default) =>
        GetAsync<IReadOnlyList<DatasetInfo>>($"api/v1/datasets?under={Uri.EscapeDataString(under)}"
            + (after is null ? "" : $"&after={Uri.EscapeDataString(after)}") + (limit is null ? "" : $"&limit={limit}"), ct);

    /// <summary>A dataset's own metadata, datablock size, state and lifetime.</summary>
    public Task<DatasetInfo> GetDatasetAsync(string path, CancellationToken ct = default) =>
        GetAsync<DatasetInfo>($"api/v1/datasets/info?path={Uri.EscapeDataString(path)}", ct);

    /// <summary>Closes a dataset: no more files go into it, and it may go into collections.</summary>
    public Task<DatasetInfo> CloseDatasetAsync(string path, CancellationToken ct = default) =>
        SendAsync<DatasetInfo>(HttpMethod.Post, "api/v1/datasets/close", new DatasetPathRequest(path), ct, repeatable: true);

    /// <summary>Reopens a closed dataset (data managers).</summary>
    public Task<DatasetInfo> ReopenDatasetAsync(string path, CancellationToken ct = default) =>
        SendAsync<DatasetInfo>(HttpMethod.Post, "api/v1/datasets/reopen", new DatasetPathRequest(path), ct, repeatable: true);

    /// <summary>Sets a dataset's lifetime (null: no end); past it, the dataset is flagged for deletion.</summary>
    public Task<DatasetInfo> SetDatasetLifetimeAsync(string path, DateTimeOffset? expires, CancellationToken ct = default) =>
        SendAsync<DatasetInfo>(HttpMethod.Post, "api/v1/datasets/lifetime", new DatasetLifetimeRequest(path, expires), ct, repeatable: true);

    /// <summary>The datasets at or below a path whose lifetime has passed (flagged for deletion).</summary>
    public Task<IReadOnlyList<DatasetInfo>> ListExpiredDatasetsAsync(string under, string? after = null, int? limit = null, CancellationToken ct = default) =>
        GetAsync<IReadOnlyList<DatasetInfo>>($"api/v1/datasets?expired=true&under={Uri.EscapeDataString(under)}"
            + (after is null ? "" : $"&after={Uri.EscapeDataString(after)}") + (limit is null ? "" : $"&limit={limit}"), ct);

    /// <summary>Datasets at or below a path whose length (files) and creation time fall in the given windows (null: open).</summary>
    public Task<IReadOnlyList<DatasetInfo>> ListDatasetsAsync(string under, long? minFiles, long? maxFiles, DateTimeOffset? createdAfter, DateTimeOffset? createdBefore,
        string? after = null, int? limit = null, CancellationToken ct = default)
    {
        var query = new List<string> { $"under={Uri.EscapeDataString(under)}" };
        if (after is not null) query.Add($"after={Uri.EscapeDataString(after)}");
        if (limit is not null) query.Add($"limit={limit}");
        if (minFiles is not null) query.Add($"minFiles={minFiles}");
        if (maxFiles is not null) query.Add($"maxFiles={maxFiles}");
        if (createdAfter is { } from) query.Add($"createdAfter={Uri.EscapeDataString(from.ToString("o"))}");
        if (createdBefore is { } to) query.Add($"createdBefore={Uri.EscapeDataString(to.ToString("o"))}");
        return GetAsync<IReadOnlyList<DatasetInfo>>("api/v1/datasets?" + string.Join('&', query), ct);
    }

    /// <summary>A dataset's files, bytes, events, experiment and run ranges, and replicas per SE.</summary>
    public Task<DatasetSummary> GetDatasetSummaryAsync(string path, CancellationToken ct = default) =>
        GetAsync<DatasetSummary>($"api/v1/datasets/summary?path={Uri.EscapeDataString(path)}", ct);

    /// <summary>The totals of the datasets a collection holds: files, bytes, events, ranges, per SE.</summary>
    public Task<CollectionSummary> GetCollectionSummaryAsync(string path, CancellationToken ct = default) =>
        GetAsync<CollectionSummary>($"api/v1/collections/summary?path={Uri.EscapeDataString(path)}", ct);

    /// <summary>Creates a frozen collection, whole or not at all.</summary>
    public Task<CollectionInfo> CreateCollectionAsync(CollectionRequest request, CancellationToken ct = default) =>
        SendAsync<CollectionInfo>(HttpMethod.Post, "api/v1/collections", request, ct);

    /// <summary>A collection's members and metadata.</summary>
    public Task<CollectionInfo> GetCollectionAsync(string path, CancellationToken ct = default) =>
        GetAsync<CollectionInfo>($"api/v1/collections/info?path={Uri.EscapeDataString(path)}", ct);

    /// <summary>Collections at or below a path.</summary>
    public Task<IReadOnlyList<CollectionInfo>> ListCollectionsAsync(string under, CancellationToken ct = default) =>
        GetAsync<IReadOnlyList<CollectionInfo>>($"api/v1/collections?under={Uri.EscapeDataString(under)}", ct);

    /// <summary>One page of the files of a collection's datasets.</summary>
    public Task<QueryPage> ListCollectionFilesAsync(string path, string? after = null, int? limit = null, CancellationToken ct = default) =>
        GetAsync<QueryPage>($"api/v1/collections/files?path={Uri.EscapeDataString(path)}"
            + (after is null ? "" : $"&after={Uri.EscapeDataString(after)}") + (limit is null ? "" : $"&limit={limit}"), ct);

    /// <summary>Ancestors or descendants of a file to <paramref name="depth"/> steps.</summary>
    public Task<LineageResponse> LineageAsync(string lfn, LineageDirection direction = LineageDirection.Ancestors, int depth = 1, CancellationToken ct = default) =>
        GetAsync<LineageResponse>($"api/v1/lineage?lfn={Uri.EscapeDataString(lfn)}&direction={direction}&depth={depth}", ct);

    /// <summary>
    /// A page of the change feed after <paramref name="after"/> (null: the oldest kept; "latest": the
    /// head, an empty page whose <c>Next</c> follows from now), under <paramref name="prefix"/>;
    /// <paramref name="wait"/> long-polls until a change comes or the time is up (at most 60 s).
    /// A cursor older than the feed's retention throws <see cref="CatalogClientException"/> with
    /// <see cref="ErrorCode.ChangesExpired"/> (410).
    /// </summary>
    public Task<ChangePage> ChangesAsync(string? after = null, string? prefix = null, int? limit = null, TimeSpan? wait = null, CancellationToken ct = default)
    {
        var query = new List<string>();
        if (after is not null) query.Add($"after={Uri.EscapeDataString(after)}");
        if (prefix is not null) query.Add($"prefix={Uri.EscapeDataString(prefix)}");
        if (limit is not null) query.Add($"limit={limit}");
        if (wait is { } w) query.Add($"wait={w.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        return GetAsync<ChangePage>("api/v1/changes" + (query.Count == 0 ? "" : "?" + string.Join('&', query)), ct);
    }

    /// <summary>Files and bytes under a directory, in total and per SE.</summary>
    public Task<Usage> UsageAsync(string path, CancellationToken ct = default) =>
        GetAsync<Usage>($"api/v1/usage?path={Uri.EscapeDataString(path)}", ct);

    /// <summary>
    /// Registers a batch of files with their replicas and metadata; the answer has one result
    /// per file. The batch carries an <c>Idempotency-Key</c> (<paramref name="idempotencyKey"/>,
    /// or a new one unless the client was created without <see cref="CatalogClientOptions.AddIdempotencyKeys"/>),
    /// so a retry after a lost answer returns the first answer instead of registering twice.
    /// </summary>
    public async Task<RegisterResponse> RegisterAsync(IReadOnlyList<NewFile> files, string? idempotencyKey = null, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/files")
        {
            Content = Body(new RegisterRequest(files.ToList<NewFile?>())),
        };
        // Time-ordered (UUIDv7), so the server's key index grows at its right edge instead of at a
        // random page per key (BENCHMARKS.md, third session: the key insert in a storm).
        idempotencyKey ??= addIdempotencyKeys ? Guid.CreateVersion7().ToString("N") : null;
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        using var response = await SendCoreAsync(request, ct);
        return await ReadAsync<RegisterResponse>(response, ct);
    }

    /// <summary>
    /// Registers any number of files: splits them into batches of <paramref name="batchSize"/>
    /// sent with at most <paramref name="parallelism"/> in flight, and streams one result per
    /// file as batches complete (<see cref="RegisterResult.Index"/> is the file's position in
    /// <paramref name="files"/>). A batch the server refuses as a whole (4xx) yields a failed
    /// result for each of its files; transport failures that outlast the retries end the stream
    /// with their exception. Memory stays bounded by the batches in flight.
    /// </summary>
    public IAsyncEnumerable<RegisterResult> RegisterManyAsync(IEnumerable<NewFile> files, int batchSize = 1000, int parallelism = 4,
        CancellationToken ct = default) =>
        RegisterManyAsync(files.ToAsyncEnumerable(), batchSize, parallelism, ct);

    /// <summary>As <see cref="RegisterManyAsync(IEnumerable{NewFile}, int, int, CancellationToken)"/>, reading files as they come (e.g. from a pipe).</summary>
    public async IAsyncEnumerable<RegisterResult> RegisterManyAsync(IAsyncEnumerable<NewFile> files, int batchSize = 1000, int parallelism = 4,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(parallelism, 1);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var inFlight = new List<Task<IReadOnlyList<RegisterResult>>>(parallelism);
        var offset = 0;
        try
        {
            await foreach (var chunk in files.Chunk(batchSize).WithCancellation(ct))
            {
                if (inFlight.Count == parallelism)
                {
                    var done = await Task.WhenAny(inFlight);
                    inFlight.Remove(done);
                    foreach (var result in await done) yield return result;
                }
                inFlight.Add(RegisterBatchAsync(chunk, offset, cts.Token));
                offset += chunk.Length;
            }
            while (inFlight.Count > 0)
            {
                var done = await Task.WhenAny(inFlight);
                inFlight.Remove(done);
                foreach (var result in await done) yield return result;
            }
        }
        finally
        {
            cts.Cancel();
            foreach (var task in inFlight)
                try { await task; } catch { /* the first failure is already propagating */ }
        }
    }

    private async Task<IReadOnlyList<RegisterResult>> RegisterBatchAsync(NewFile[] batch, int offset, CancellationToken ct)
    {
        try
        {
            var response = await RegisterAsync(batch, ct: ct);
            return response.Results.Select(r => r with { Index = offset + r.Index }).ToList();
        }
        catch (CatalogClientException e) when (e.Status is >= 400 and < 500)
        {
            var error = new ItemError(e.Code, e.Message, e.Field);
            return batch.Select((f, i) => new RegisterResult(offset + i, f.Lfn, ItemStatus.Failed, Error: error)).ToList();
        }
    }

    /// <summary>A file with its replicas and metadata.</summary>
    public Task<Contracts.FileInfo> GetFileAsync(string lfn, CancellationToken ct = default) =>
        GetAsync<Contracts.FileInfo>($"api/v1/files?lfn={Uri.EscapeDataString(lfn)}", ct);

    /// <summary>GUID to LFN.</summary>
    public Task<GuidLookup> GetByGuidAsync(Guid guid, CancellationToken ct = default) =>
        GetAsync<GuidLookup>($"api/v1/files/by-guid/{guid}", ct);

    /// <summary>The usable replicas of one LFN (available, on a read-enabled SE).</summary>
    public Task<IReadOnlyList<Replica>> ListReplicasAsync(string lfn, CancellationToken ct = default) => ListReplicasAsync(lfn, all: false, ct);

    /// <summary>The replicas of one LFN: the usable ones (available, on a read-enabled SE), or with <paramref name="all"/> every one.</summary>
    public Task<IReadOnlyList<Replica>> ListReplicasAsync(string lfn, bool all, CancellationToken ct = default) =>
        GetAsync<IReadOnlyList<Replica>>($"api/v1/replicas?lfn={Uri.EscapeDataString(lfn)}{(all ? "&all=true" : "")}", ct);

    /// <summary>Adds replicas to registered files, per item.</summary>
    public Task<ReplicaResponse> AddReplicasAsync(IEnumerable<ReplicaRef> replicas, CancellationToken ct = default) =>
        SendAsync<ReplicaResponse>(HttpMethod.Post, "api/v1/replicas", new AddReplicasRequest(replicas.ToList<ReplicaRef?>()), ct, repeatable: true);

    /// <summary>Removes replicas, per item; files stay registered.</summary>
    public Task<ReplicaResponse> RemoveReplicasAsync(IEnumerable<ReplicaRef> replicas, CancellationToken ct = default) =>
        SendAsync<ReplicaResponse>(HttpMethod.Post, "api/v1/replicas/remove", new RemoveReplicasRequest(replicas.ToList<ReplicaRef?>()), ct, repeatable: true);

    /// <summary>Sets replica states, per item.</summary>
    public Task<ReplicaResponse> SetReplicaStateAsync(IEnumerable<ReplicaRef> replicas, CancellationToken ct = default) =>
        SendAsync<ReplicaResponse>(HttpMethod.Post, "api/v1/replicas/state", new SetReplicaStateRequest(replicas.ToList<ReplicaRef?>()), ct, repeatable: true);

    /// <summary>
    /// Bulk LFN -> usable replicas (available, on a read-enabled SE), read as the server streams it,
    /// in request order. Unknown LFNs come back as items with <see cref="LookupResult.Error"/> set.
    /// </summary>
    public IAsyncEnumerable<LookupResult> LookupAsync(IEnumerable<string> lfns, CancellationToken ct = default) => LookupAsync(lfns, all: false, ct);

    /// <summary>Bulk lookup; with <paramref name="all"/> every replica whatever its state and SE, else only the usable ones.</summary>
    public IAsyncEnumerable<LookupResult> LookupAsync(IEnumerable<string> lfns, bool all, CancellationToken ct = default) =>
        StreamAsync<LookupResult>("api/v1/replicas/lookup", new LookupRequest(lfns.ToList<string?>(), all ? true : null), ct);

    /// <summary>POSTs a read and yields the items of the JSON array the server streams back, as they arrive.</summary>
    private async IAsyncEnumerable<T> StreamAsync<T>(string uri, object? body, [EnumeratorCancellation] CancellationToken ct)
    {
        using var request = new HttpRequestMessage(body is null ? HttpMethod.Get : HttpMethod.Post, uri) { Content = body is null ? null : Body(body) };
        request.Options.Set(CatalogResilience.Repeatable, true);
        using var response = await SendCoreAsync(request, ct, HttpCompletionOption.ResponseHeadersRead);
        await EnsureSuccessAsync(response, ct);
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        await foreach (var item in JsonSerializer.DeserializeAsyncEnumerable<T>(stream, Json, ct))
            if (item is not null) yield return item;
    }

    /// <summary>
    /// Runs a GraphQL document; answers the whole response document (data and errors). Queries
    /// are retried like reads; a document containing a mutation is sent once.
    /// </summary>
    public async Task<JsonDocument> GraphQLAsync(string query, object? variables = null, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "graphql")
        {
            Content = Body(new { query, variables }),
        };
        if (!query.Contains("mutation", StringComparison.Ordinal)) request.Options.Set(CatalogResilience.Repeatable, true);
        using var response = await SendCoreAsync(request, ct);
        await EnsureSuccessAsync(response, ct);
        return await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(ct), cancellationToken: ct);
    }

    /// <summary>
    /// A JSON body serialized up front: it goes out with a Content-Length in as few writes as
    /// possible (a chunked, lazily serialized body measured ~40 ms slower per request on loopback,
    /// the Nagle / delayed-ACK interaction) and can be sent again by a retry.
    /// </summary>
    internal static ByteArrayContent Body<T>(T value)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(value, Json));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        return content;
    }

    private async Task<T> GetAsync<T>(string uri, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        using var response = await SendCoreAsync(request, ct);
        return await ReadAsync<T>(response, ct);
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string uri, object body, CancellationToken ct, bool repeatable = false)
    {
        using var request = new HttpRequestMessage(method, uri) { Content = Body(body) };
        if (repeatable) request.Options.Set(CatalogResilience.Repeatable, true);
        using var response = await SendCoreAsync(request, ct);
        return await ReadAsync<T>(response, ct);
    }

    /// <summary>Sends through the pipeline; an attempt timeout surfaces as <see cref="TimeoutException"/>.</summary>
    private async Task<HttpResponseMessage> SendCoreAsync(HttpRequestMessage request, CancellationToken ct,
        HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        try
        {
            return await Http.SendAsync(request, completion, ct);
        }
        catch (Polly.Timeout.TimeoutRejectedException e)
        {
            throw new TimeoutException($"{request.Method} {request.RequestUri} got no answer within {e.Timeout.TotalSeconds:0.#} s", e);
        }
        catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"{request.Method} {request.RequestUri} got no answer within {Http.Timeout.TotalSeconds:0.#} s", e);
        }
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken ct)
    {
        await EnsureSuccessAsync(response, ct);
        return (await response.Content.ReadFromJsonAsync<T>(Json, ct))!;
    }

    /// <summary>Turns a ProblemDetails answer into the typed exception of its code.</summary>
    internal static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode) return;
        var status = (int)response.StatusCode;
        string? code = null, detail = null, field = null;
        try
        {
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
            var root = problem.RootElement;
            if (root.TryGetProperty("code", out var c)) code = c.GetString();
            if (root.TryGetProperty("detail", out var d)) detail = d.GetString();
            if (root.TryGetProperty("field", out var f)) field = f.GetString();
        }
        catch (JsonException) { }
        var errorCode = code is not null ? ErrorCodes.FromWire(code) : status switch
        {
            400 => ErrorCode.InvalidArgument, 401 => ErrorCode.Unauthorized, 403 => ErrorCode.Forbidden,
            404 => ErrorCode.NotFound, 409 => ErrorCode.Conflict, 429 => ErrorCode.RateLimited, 503 => ErrorCode.Overloaded, _ => ErrorCode.Internal,
        };
        var retryAfter = response.Headers.RetryAfter?.Delta;
        throw CatalogClientException.Create(errorCode, status, detail ?? $"HTTP {status} {response.ReasonPhrase}", field, retryAfter);
    }
}
