namespace Catalog.Client;

/// <summary>
/// How a <see cref="CatalogClient"/> reaches the server: address, credentials, timeouts and the
/// retry policy for requests that are safe to repeat.
/// </summary>
public sealed class CatalogClientOptions
{
    /// <summary>The default server address, the one <c>./run.sh</c> serves.</summary>
    public static readonly Uri DefaultBaseAddress = new("http://127.0.0.1:5080/");

    /// <summary>The server's base address.</summary>
    public Uri BaseAddress { get; set; } = DefaultBaseAddress;

    /// <summary>A bearer token sent with every request, if set.</summary>
    public string? Token { get; set; }

    /// <summary>The limit for one call, all retries included (the <see cref="HttpClient.Timeout"/>).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The limit for one attempt; an attempt that takes longer is cancelled and, when safe, retried.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>How many times a safe request is retried after a transient failure (0 disables retries).</summary>
    public int MaxRetries { get; set; } = 6;

    /// <summary>The first retry delay; later ones grow exponentially, with jitter. A Retry-After header wins.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest delay between two attempts.</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Whether batch registrations get an <c>Idempotency-Key</c> by themselves, which makes them safe
    /// to retry. On by default.
    /// </summary>
    public bool AddIdempotencyKeys { get; set; } = true;

    /// <summary>Called before each retry (for logging); not called for requests sent once.</summary>
    public Action<CatalogRetry>? OnRetry { get; set; }
}

/// <summary>A retry about to happen: which attempt failed, why, and how long the client waits.</summary>
/// <param name="Attempt">The number of the attempt that failed, from 1.</param>
/// <param name="Delay">The wait before the next attempt (the server's Retry-After when it sent one).</param>
/// <param name="Reason">The HTTP status or exception that made the attempt fail.</param>
public sealed record CatalogRetry(int Attempt, TimeSpan Delay, string Reason);
