using System.ComponentModel.DataAnnotations;

namespace Catalog.Api.Infrastructure;

/// <summary>Namespace and limit settings, bound from the <c>Catalog</c> section.</summary>
public sealed class CatalogOptions
{
    public const string Section = "Catalog";

    /// <summary>Top-level directories every LFN must live under.</summary>
    [MinLength(1)]
    public List<string> Roots { get; set; } = ["/belle"];

    /// <summary>Most files per registration or items per bulk write.</summary>
    [Range(1, 1_000_000)]
    public int MaxBatchSize { get; set; } = 10_000;

    /// <summary>Most LFNs per bulk lookup.</summary>
    [Range(1, 1_000_000)]
    public int MaxLookupSize { get; set; } = 100_000;

    /// <summary>Most entries per listing page.</summary>
    [Range(1, 100_000)]
    public int MaxPageSize { get; set; } = 10_000;

    /// <summary>Owner and group given to new entries until authentication names the caller.</summary>
    [Required]
    public string DefaultOwner { get; set; } = "belle";

    [Required]
    public string DefaultGroup { get; set; } = "belle";
}
