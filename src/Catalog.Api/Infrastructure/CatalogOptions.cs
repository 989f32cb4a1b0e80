using System.ComponentModel.DataAnnotations;

namespace Catalog.Api.Infrastructure;

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

    /// <summary>Most entries per listing page.</summary>
    [Range(1, 100_000)]
    public int MaxPageSize { get; set; } = 10_000;

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

}
