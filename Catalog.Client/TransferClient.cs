using Catalog.Contracts;

namespace Catalog.Client;

/// <summary>
/// The typed client of the transfer service's REST API: rules, transfers, per-link statistics and
/// consistency checks. Errors arrive as the same typed exceptions as the catalog's. Thread-safe.
/// </summary>
public sealed class TransferClient(HttpClient http)
{
    /// <summary>The underlying HTTP client.</summary>
    public HttpClient Http { get; } = http;

    /// <summary>A client of the service at <paramref name="baseAddress"/> with a catalog token.</summary>
    public static TransferClient Create(Uri baseAddress, string? token, TimeSpan? timeout = null) =>
        new(ModuleHttp.Create(baseAddress, token, timeout ?? TimeSpan.FromMinutes(10)));

    /// <summary>Adds a rule; its files are evaluated (locks and transfer requests created) before this returns.</summary>
    public Task<RuleInfo> AddRuleAsync(RuleSpec spec, CancellationToken ct = default) =>
        SendAsync<RuleInfo>(HttpMethod.Post, "api/v1/rules", spec, ct);

    /// <summary>Every rule, or those of one account.</summary>
    public Task<IReadOnlyList<RuleInfo>> ListRulesAsync(string? account = null, CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<RuleInfo>>(HttpMethod.Get, "api/v1/rules" + (account is null ? "" : $"?account={Uri.EscapeDataString(account)}"), null, ct);

    /// <summary>One rule, with its stuck locks and their reasons.</summary>
    public Task<RuleDetail> GetRuleAsync(long id, CancellationToken ct = default) =>
        SendAsync<RuleDetail>(HttpMethod.Get, $"api/v1/rules/{id}", null, ct);

    /// <summary>Removes a rule: its locks go, and replicas no other rule holds are deleted (never a file's last).</summary>
    public Task<RuleInfo> RemoveRuleAsync(long id, CancellationToken ct = default) =>
        SendAsync<RuleInfo>(HttpMethod.Delete, $"api/v1/rules/{id}", null, ct);

    /// <summary>Suspends (no new transfers) or resumes a rule.</summary>
    public Task<RuleInfo> SuspendRuleAsync(long id, bool suspend, CancellationToken ct = default) =>
        SendAsync<RuleInfo>(HttpMethod.Post, $"api/v1/rules/{id}/{(suspend ? "suspend" : "resume")}", new { }, ct);

    /// <summary>A page of transfers, newest first, optionally in one state or of one rule.</summary>
    public Task<TransferPage> ListTransfersAsync(TransferState? state = null, long? rule = null, long? before = null, int? limit = null, CancellationToken ct = default)
    {
        var query = new List<string>();
        if (state is not null) query.Add($"state={CatalogJson.Name(state.Value)}");
        if (rule is not null) query.Add($"rule={rule}");
        if (before is not null) query.Add($"before={before}");
        if (limit is not null) query.Add($"limit={limit}");
        return SendAsync<TransferPage>(HttpMethod.Get, "api/v1/transfers" + (query.Count > 0 ? "?" + string.Join('&', query) : ""), null, ct);
    }

    /// <summary>Per-link statistics (each direction apart) since <paramref name="since"/> (default: the last 24 hours).</summary>
    public Task<LinkStatsResponse> LinkStatsAsync(DateTimeOffset? since = null, CancellationToken ct = default) => LinkStatsAsync(since, null, ct);

    /// <summary>Per-link statistics of the attempts that ended in [<paramref name="since"/>, <paramref name="until"/>) (until: now).</summary>
    public Task<LinkStatsResponse> LinkStatsAsync(DateTimeOffset? since, DateTimeOffset? until, CancellationToken ct = default)
    {
        var query = new List<string>();
        if (since is not null) query.Add($"since={Uri.EscapeDataString(since.Value.ToString("O"))}");
        if (until is not null) query.Add($"until={Uri.EscapeDataString(until.Value.ToString("O"))}");
        return SendAsync<LinkStatsResponse>(HttpMethod.Get, "api/v1/links" + (query.Count > 0 ? "?" + string.Join('&', query) : ""), null, ct);
    }

    /// <summary>Compares an SE's namespace with the catalog's replicas there; repairs when asked.</summary>
    public Task<ConsistencyReport> CheckConsistencyAsync(string se, ConsistencyRequest? request = null, CancellationToken ct = default) =>
        SendAsync<ConsistencyReport>(HttpMethod.Post, $"api/v1/consistency/{Uri.EscapeDataString(se)}", request ?? new ConsistencyRequest(), ct);

    private Task<T> SendAsync<T>(HttpMethod method, string uri, object? body, CancellationToken ct) => ModuleHttp.SendAsync<T>(Http, method, uri, body, ct);
}
