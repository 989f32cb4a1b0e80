using Catalog.Contracts;

namespace Catalog.Client;

/// <summary>
/// The typed client of the production service's REST API (define, list, status, jobs, control).
/// Errors arrive as the same typed exceptions as the catalog's. Thread-safe.
/// </summary>
public sealed class ProductionClient(HttpClient http)
{
    /// <summary>The underlying HTTP client.</summary>
    public HttpClient Http { get; } = http;

    /// <summary>A client of the service at <paramref name="baseAddress"/> with a catalog token.</summary>
    public static ProductionClient Create(Uri baseAddress, string? token, TimeSpan? timeout = null) =>
        new(ModuleHttp.Create(baseAddress, token, timeout ?? TimeSpan.FromMinutes(5)));

    /// <summary>Defines a production; it is checked against the catalog and planned before this returns.</summary>
    public Task<ProductionInfo> CreateAsync(ProductionSpec spec, CancellationToken ct = default) =>
        SendAsync<ProductionInfo>(HttpMethod.Post, "api/v1/productions", spec, ct);

    /// <summary>Every production.</summary>
    public Task<IReadOnlyList<ProductionInfo>> ListAsync(CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<ProductionInfo>>(HttpMethod.Get, "api/v1/productions", null, ct);

    /// <summary>One production's definition and state.</summary>
    public Task<ProductionInfo> GetAsync(string name, CancellationToken ct = default) =>
        SendAsync<ProductionInfo>(HttpMethod.Get, $"api/v1/productions/{Uri.EscapeDataString(name)}", null, ct);

    /// <summary>Jobs counted by state and site, failures by class.</summary>
    public Task<ProductionStatus> StatusAsync(string name, CancellationToken ct = default) =>
        SendAsync<ProductionStatus>(HttpMethod.Get, $"api/v1/productions/{Uri.EscapeDataString(name)}/status", null, ct);

    /// <summary>A page of jobs in index order, optionally only those in <paramref name="state"/>.</summary>
    public Task<JobPage> JobsAsync(string name, JobState? state = null, int? after = null, int? limit = null, CancellationToken ct = default)
    {
        var query = new List<string>();
        if (state is not null) query.Add($"state={CatalogJson.Name(state.Value)}");
        if (after is not null) query.Add($"after={after}");
        if (limit is not null) query.Add($"limit={limit}");
        return SendAsync<JobPage>(HttpMethod.Get, $"api/v1/productions/{Uri.EscapeDataString(name)}/jobs{(query.Count > 0 ? "?" + string.Join('&', query) : "")}", null, ct);
    }

    /// <summary>Stops submitting the production's jobs (what runs goes on).</summary>
    public Task<ProductionInfo> PauseAsync(string name, CancellationToken ct = default) => Control(name, "pause", null, ct);

    /// <summary>Submits its jobs again.</summary>
    public Task<ProductionInfo> ResumeAsync(string name, CancellationToken ct = default) => Control(name, "resume", null, ct);

    /// <summary>Kills every job not done and cancels them in Slurm.</summary>
    public Task<ProductionInfo> KillAsync(string name, CancellationToken ct = default) => Control(name, "kill", null, ct);

    /// <summary>Adds <paramref name="events"/> events to a simulation.</summary>
    public Task<ProductionInfo> ExtendAsync(string name, long events, CancellationToken ct = default) => Control(name, "extend", new ExtendRequest(events), ct);

    /// <summary>Plans again the jobs whose output the catalog lacks.</summary>
    public Task<RecoverResponse> RecoverAsync(string name, CancellationToken ct = default) =>
        SendAsync<RecoverResponse>(HttpMethod.Post, $"api/v1/productions/{Uri.EscapeDataString(name)}/recover", new { }, ct);

    private Task<ProductionInfo> Control(string name, string action, object? body, CancellationToken ct) =>
        SendAsync<ProductionInfo>(HttpMethod.Post, $"api/v1/productions/{Uri.EscapeDataString(name)}/{action}", body ?? new { }, ct);

    private Task<T> SendAsync<T>(HttpMethod method, string uri, object? body, CancellationToken ct) => ModuleHttp.SendAsync<T>(Http, method, uri, body, ct);
}
