using Catalog.Contracts;

namespace Catalog.Client;

/// <summary>
/// The typed client of the monitor's REST API: what is wrong now, targets with their probes and
/// status history, downtimes, time series and failure groups. Thread-safe.
/// </summary>
public sealed class MonitorClient(HttpClient http)
{
    /// <summary>The underlying HTTP client.</summary>
    public HttpClient Http { get; } = http;

    /// <summary>A client of the monitor at <paramref name="baseAddress"/>, with a catalog token (reads from the monitor's own host need none).</summary>
    public static MonitorClient Create(Uri baseAddress, string? token, TimeSpan? timeout = null) =>
        new(ModuleHttp.Create(baseAddress, token, timeout ?? TimeSpan.FromMinutes(1)));

    /// <summary>What is wrong now (red first), every target's status, the downtimes to come.</summary>
    public Task<Overview> OverviewAsync(CancellationToken ct = default) => SendAsync<Overview>(HttpMethod.Get, "api/v1/overview", null, ct);

    /// <summary>Every probed target with its status and last probe.</summary>
    public Task<IReadOnlyList<TargetInfo>> TargetsAsync(CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<TargetInfo>>(HttpMethod.Get, "api/v1/targets", null, ct);

    /// <summary>A target's probes, newest first.</summary>
    public Task<IReadOnlyList<ProbeResult>> ProbesAsync(string target, int? limit = null, CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<ProbeResult>>(HttpMethod.Get, $"api/v1/targets/{Uri.EscapeDataString(target)}/probes{(limit is null ? "" : $"?limit={limit}")}", null, ct);

    /// <summary>Status changes with their reasons, newest first (of one target, or all).</summary>
    public Task<IReadOnlyList<StatusChange>> HistoryAsync(string? target = null, int? limit = null, CancellationToken ct = default)
    {
        var query = new List<string>();
        if (target is not null) query.Add($"target={Uri.EscapeDataString(target)}");
        if (limit is not null) query.Add($"limit={limit}");
        return SendAsync<IReadOnlyList<StatusChange>>(HttpMethod.Get, "api/v1/history" + (query.Count > 0 ? "?" + string.Join('&', query) : ""), null, ct);
    }

    /// <summary>Schedules a downtime (an operator's): the target drains before it, is down during it, and probes its way back after.</summary>
    public Task<Downtime> AddDowntimeAsync(DowntimeSpec spec, CancellationToken ct = default) =>
        SendAsync<Downtime>(HttpMethod.Post, "api/v1/downtimes", spec, ct);

    /// <summary>Downtimes not over yet (draining, running, or to come).</summary>
    public Task<IReadOnlyList<Downtime>> DowntimesAsync(CancellationToken ct = default) =>
        SendAsync<IReadOnlyList<Downtime>>(HttpMethod.Get, "api/v1/downtimes", null, ct);

    /// <summary>Removes (or ends early) a downtime.</summary>
    public Task<Downtime> RemoveDowntimeAsync(long id, CancellationToken ct = default) =>
        SendAsync<Downtime>(HttpMethod.Delete, $"api/v1/downtimes/{id}", null, ct);

    /// <summary>
    /// A series summed per time bucket and per value of the labels <paramref name="by"/>
    /// (comma-separated), over the series whose labels contain <paramref name="labels"/>.
    /// </summary>
    public Task<SeriesResponse> SeriesAsync(string name, string? by = null, IReadOnlyDictionary<string, string>? labels = null,
        DateTimeOffset? from = null, DateTimeOffset? to = null, long? step = null, CancellationToken ct = default)
    {
        var query = new List<string>();
        if (by is not null) query.Add($"by={Uri.EscapeDataString(by)}");
        foreach (var (k, v) in labels ?? new Dictionary<string, string>()) query.Add($"label={Uri.EscapeDataString($"{k}:{v}")}");
        if (from is not null) query.Add($"from={Uri.EscapeDataString(from.Value.ToString("O"))}");
        if (to is not null) query.Add($"to={Uri.EscapeDataString(to.Value.ToString("O"))}");
        if (step is not null) query.Add($"step={step}");
        return SendAsync<SeriesResponse>(HttpMethod.Get, $"api/v1/series/{Uri.EscapeDataString(name)}" + (query.Count > 0 ? "?" + string.Join('&', query) : ""), null, ct);
    }

    /// <summary>Failures grouped by reason (source: job, transfer or probe), newest first.</summary>
    public Task<IReadOnlyList<FailureGroup>> FailuresAsync(string? source = null, string? production = null, int? hours = null, CancellationToken ct = default)
    {
        var query = new List<string>();
        if (source is not null) query.Add($"source={source}");
        if (production is not null) query.Add($"production={Uri.EscapeDataString(production)}");
        if (hours is not null) query.Add($"hours={hours}");
        return SendAsync<IReadOnlyList<FailureGroup>>(HttpMethod.Get, "api/v1/failures" + (query.Count > 0 ? "?" + string.Join('&', query) : ""), null, ct);
    }

    private Task<T> SendAsync<T>(HttpMethod method, string uri, object? body, CancellationToken ct) => ModuleHttp.SendAsync<T>(Http, method, uri, body, ct);
}
