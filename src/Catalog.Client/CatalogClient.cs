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
public sealed class CatalogClient(HttpClient http)
{
    private static readonly JsonSerializerOptions Json = CatalogJson.Options;

    /// <summary>The underlying HTTP client.</summary>
    public HttpClient Http { get; } = http;

    /// <summary>Lists all storage elements with their usage.</summary>
    public Task<IReadOnlyList<StorageElement>> ListStorageElementsAsync(CancellationToken ct = default) =>
        GetAsync<IReadOnlyList<StorageElement>>("api/v1/storage-elements", ct);

    /// <summary>Reads one storage element.</summary>
    public Task<StorageElement> GetStorageElementAsync(string name, CancellationToken ct = default) =>
        GetAsync<StorageElement>($"api/v1/storage-elements/{Uri.EscapeDataString(name)}", ct);

    /// <summary>Creates or replaces a storage element.</summary>
    public Task<StorageElement> PutStorageElementAsync(string name, StorageElementSpec spec, CancellationToken ct = default) =>
        SendAsync<StorageElement>(HttpMethod.Put, $"api/v1/storage-elements/{Uri.EscapeDataString(name)}", spec, ct);

    /// <summary>Deletes a storage element that holds no replicas.</summary>
    public async Task DeleteStorageElementAsync(string name, CancellationToken ct = default)
    {
        using var response = await Http.DeleteAsync($"api/v1/storage-elements/{Uri.EscapeDataString(name)}", ct);
        await EnsureSuccessAsync(response, ct);
    }

    /// <summary>Creates a directory (with <paramref name="parents"/>, its missing ancestors too); existing ones succeed.</summary>
    public Task<Entry> MakeDirectoryAsync(string path, bool parents = false, int? mode = null, CancellationToken ct = default) =>
        SendAsync<Entry>(HttpMethod.Post, "api/v1/directories", new MakeDirectoryRequest(path, parents, mode), ct);

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
        SendAsync<RemoveResponse>(HttpMethod.Post, "api/v1/namespace/remove", new RemoveRequest(paths.ToList<string?>(), recursive), ct);

    /// <summary>Files and bytes under a directory, in total and per SE.</summary>
    public Task<Usage> UsageAsync(string path, CancellationToken ct = default) =>
        GetAsync<Usage>($"api/v1/usage?path={Uri.EscapeDataString(path)}", ct);

    /// <summary>
    /// Registers a batch of files with their replicas and metadata; the answer has one result
    /// per file. With an <paramref name="idempotencyKey"/>, a retried batch returns the first answer.
    /// </summary>
    public async Task<RegisterResponse> RegisterAsync(IReadOnlyList<NewFile> files, string? idempotencyKey = null, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/files")
        {
            Content = JsonContent.Create(new RegisterRequest(files.ToList<NewFile?>()), options: Json),
        };
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        using var response = await Http.SendAsync(request, ct);
        return await ReadAsync<RegisterResponse>(response, ct);
    }

    /// <summary>A file with its replicas and metadata.</summary>
    public Task<Contracts.FileInfo> GetFileAsync(string lfn, CancellationToken ct = default) =>
        GetAsync<Contracts.FileInfo>($"api/v1/files?lfn={Uri.EscapeDataString(lfn)}", ct);

    /// <summary>GUID to LFN.</summary>
    public Task<GuidLookup> GetByGuidAsync(Guid guid, CancellationToken ct = default) =>
        GetAsync<GuidLookup>($"api/v1/files/by-guid/{guid}", ct);

    /// <summary>The replicas of one LFN.</summary>
    public Task<IReadOnlyList<Replica>> ListReplicasAsync(string lfn, CancellationToken ct = default) =>
        GetAsync<IReadOnlyList<Replica>>($"api/v1/replicas?lfn={Uri.EscapeDataString(lfn)}", ct);

    /// <summary>Adds replicas to registered files, per item.</summary>
    public Task<ReplicaResponse> AddReplicasAsync(IEnumerable<ReplicaRef> replicas, CancellationToken ct = default) =>
        SendAsync<ReplicaResponse>(HttpMethod.Post, "api/v1/replicas", new AddReplicasRequest(replicas.ToList<ReplicaRef?>()), ct);

    /// <summary>Removes replicas, per item; files stay registered.</summary>
    public Task<ReplicaResponse> RemoveReplicasAsync(IEnumerable<ReplicaRef> replicas, CancellationToken ct = default) =>
        SendAsync<ReplicaResponse>(HttpMethod.Post, "api/v1/replicas/remove", new RemoveReplicasRequest(replicas.ToList<ReplicaRef?>()), ct);

    /// <summary>Sets replica states, per item.</summary>
    public Task<ReplicaResponse> SetReplicaStateAsync(IEnumerable<ReplicaRef> replicas, CancellationToken ct = default) =>
        SendAsync<ReplicaResponse>(HttpMethod.Post, "api/v1/replicas/state", new SetReplicaStateRequest(replicas.ToList<ReplicaRef?>()), ct);

    /// <summary>
    /// Bulk LFN -> replicas, read as the server streams it, in request order. Unknown LFNs come
    /// back as items with <see cref="LookupResult.Error"/> set.
    /// </summary>
    public async IAsyncEnumerable<LookupResult> LookupAsync(IEnumerable<string> lfns, [EnumeratorCancellation] CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/replicas/lookup")
        {
            Content = JsonContent.Create(new LookupRequest(lfns.ToList<string?>()), options: Json),
        };
        using var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        await EnsureSuccessAsync(response, ct);
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        await foreach (var item in JsonSerializer.DeserializeAsyncEnumerable<LookupResult>(stream, Json, ct))
            if (item is not null) yield return item;
    }

    /// <summary>Runs a GraphQL query; answers the whole response document (data and errors).</summary>
    public async Task<JsonDocument> GraphQLAsync(string query, object? variables = null, CancellationToken ct = default)
    {
        using var response = await Http.PostAsJsonAsync("graphql", new { query, variables }, Json, ct);
        await EnsureSuccessAsync(response, ct);
        return await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(ct), cancellationToken: ct);
    }

    private async Task<T> GetAsync<T>(string uri, CancellationToken ct)
    {
        using var response = await Http.GetAsync(uri, ct);
        return await ReadAsync<T>(response, ct);
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string uri, object body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, uri) { Content = JsonContent.Create(body, options: Json) };
        using var response = await Http.SendAsync(request, ct);
        return await ReadAsync<T>(response, ct);
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken ct)
    {
        await EnsureSuccessAsync(response, ct);
        return (await response.Content.ReadFromJsonAsync<T>(Json, ct))!;
    }

    /// <summary>Turns a ProblemDetails answer into the typed exception of its code.</summary>
    private static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken ct)
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
            404 => ErrorCode.NotFound, 409 => ErrorCode.Conflict, 503 => ErrorCode.Overloaded, _ => ErrorCode.Internal,
        };
        var retryAfter = response.Headers.RetryAfter?.Delta;
        throw CatalogClientException.Create(errorCode, status, detail ?? $"HTTP {status} {response.ReasonPhrase}", field, retryAfter);
    }
}
