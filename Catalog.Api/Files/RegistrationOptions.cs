using System.ComponentModel.DataAnnotations;

namespace Catalog.Api.Files;

/// <summary>Coalescing of concurrent small registrations, bound from <c>Catalog:Registration</c>.</summary>
public sealed class RegistrationOptions
{
    /// <summary>Let concurrent registrations of at most <see cref="CoalesceMaxFiles"/> files share one transaction and commit (on by default).</summary>
    public bool Coalesce { get; set; } = true;

    [Range(1, 1000)] public int CoalesceMaxFiles { get; set; } = 10;

    /// <summary>Parallel transactions; a dataset (or directory) always uses the same one.</summary>
    [Range(1, 64)] public int Lanes { get; set; } = 2;

    /// <summary>Most requests per shared transaction.</summary>
    [Range(1, 10_000)] public int MaxRequestsPerTransaction { get; set; } = 256;

    /// <summary>Requests waiting per lane; beyond it the server answers 503 with Retry-After.</summary>
    [Range(1, 1_000_000)] public int QueuePerLane { get; set; } = 5_000;
}

