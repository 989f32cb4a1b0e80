using System.ComponentModel.DataAnnotations;

namespace Catalog.Api.Hosting;

/// <summary>Namespace and limit settings, bound from the <c>Catalog</c> section.</summary>
public sealed class CatalogOptions
{
    public const string Section = "Catalog";

    /// <summary>Top-level directories every LFN must live under.</summary>
    [MinLength(1)]
    public List<string> Roots { get; set; } = [];

    /// <summary>Most files per registration or items per bulk write.</summary>
    [Range(1, 1_000_000)]
    public int MaxBatchSize { get; set; } = 10_000;

    /// <summary>Most LFNs per bulk lookup.</summary>
    [Range(1, 1_000_000)]
    public int MaxLookupSize { get; set; } = 100_000;

    /// <summary>Connections one bulk lookup reads on at once (its chunks, in order); one per core by default.</summary>
    [Range(1, 64)]
    public int LookupParallelism { get; set; } = Environment.ProcessorCount;

    /// <summary>
    /// Open connections per endpoint; one more is answered 503 with Retry-After and closed
    /// (<see cref="ConnectionCap"/>). The default is five times the 2,000 requests a campaign storm
    /// keeps in flight, and half of the 20,000 open files a process may hold on these machines
    /// (<c>ulimit -n</c>): above that, accepting fails instead of answering.
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxConnections { get; set; } = 10_000;

    /// <summary>
    /// Most connections open at once from one client address: a quarter of the server's, so a few
    /// clients holding idle sockets leave room for the rest, while a site's NAT full of jobs still fits.
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxConnectionsPerAddress { get; set; } = 2_500;

    /// <summary>Most entries per listing page.</summary>
    [Range(1, 100_000)]
    public int MaxPageSize { get; set; } = 10_000;

    /// <summary>The page size a request asked for (<paramref name="fallback"/> when it did not), refused outside 1..<see cref="MaxPageSize"/>.</summary>
    public int PageSize(int? requested, int fallback)
    {
        var size = requested ?? fallback;
        return size >= 1 && size <= MaxPageSize ? size
            : throw new Errors.CatalogException(Contracts.ErrorCode.LimitExceeded, $"limit must be between 1 and {MaxPageSize} (Catalog:MaxPageSize)", "limit");
    }


    /// <summary>Files per datablock (subNN) of a dataset unless the dataset says otherwise.</summary>
    [Range(1, 1_000_000)]
    public int MaxFilesPerDatablock { get; set; } = 1000;

    /// <summary>
    /// How long an Idempotency-Key and its stored answer are kept. A client retrying a batch later
    /// than this gets a fresh execution (registration is idempotent per file, so "exists" instead
    /// of "created", never a duplicate).
    /// </summary>
    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")]
    public TimeSpan IdempotencyKeyLifetime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How long the change feed keeps a change; a consumer away longer gets 410 and lists afresh.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "365.00:00:00")]
    public TimeSpan ChangeRetention { get; set; } = TimeSpan.FromDays(14);

}
