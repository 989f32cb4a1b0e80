using System.Net;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace Catalog.Client;

/// <summary>
/// The retry policy of the client: a request is retried (exponential backoff with jitter,
/// honouring Retry-After) after a transient failure only when repeating it cannot do harm.
/// </summary>
public static class CatalogResilience
{
    /// <summary>
    /// Marks a request as safe to repeat although its method is POST: a read sent as POST (bulk
    /// lookup), a write whose repetition changes nothing more (set state, remove), or a write with
    /// an idempotency key.
    /// </summary>
    public static readonly HttpRequestOptionsKey<bool> Repeatable = new("Catalog.Repeatable");

    /// <summary>Whether <paramref name="request"/> may be sent again after a failure.</summary>
    public static bool IsRepeatable(HttpRequestMessage request) =>
        request.Method == HttpMethod.Get || request.Method == HttpMethod.Head || request.Method == HttpMethod.Options
        || request.Method == HttpMethod.Put || request.Method == HttpMethod.Delete
        || request.Headers.Contains("Idempotency-Key")
        || (request.Options.TryGetValue(Repeatable, out var repeatable) && repeatable);

    /// <summary>
    /// A handler that applies the policy of <paramref name="options"/>: an attempt timeout for
    /// every request, plus retries for repeatable ones.
    /// </summary>
    public static DelegatingHandler CreateHandler(CatalogClientOptions options)
    {
        var once = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddTimeout(options.AttemptTimeout)
            .Build();
        if (options.MaxRetries <= 0) return new ResilienceHandler(once);
        var retrying = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(new HttpRetryStrategyOptions
            {
                MaxRetryAttempts = options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryDelay,
                MaxDelay = options.MaxRetryDelay,
                ShouldRetryAfterHeader = true,
                ShouldHandle = args => ValueTask.FromResult(IsTransient(args.Outcome)),
                OnRetry = args =>
                {
                    options.OnRetry?.Invoke(new CatalogRetry(args.AttemptNumber + 1, args.RetryDelay,
                        args.Outcome.Result is { } r ? $"HTTP {(int)r.StatusCode} {r.ReasonPhrase}" : args.Outcome.Exception?.Message ?? "unknown"));
                    return ValueTask.CompletedTask;
                },
            })
            .AddTimeout(options.AttemptTimeout)
            .Build();
        return new ResilienceHandler(request => IsRepeatable(request) ? retrying : once);
    }

    /// <summary>Connection failures, attempt timeouts, 408, 429, 502, 503 and 504.</summary>
    private static bool IsTransient(Outcome<HttpResponseMessage> outcome) => outcome switch
    {
        { Exception: HttpRequestException or Polly.Timeout.TimeoutRejectedException } => true,
        { Result.StatusCode: HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests or HttpStatusCode.BadGateway
            or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout } => true,
        _ => false,
    };
}
