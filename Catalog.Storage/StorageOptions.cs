using System.ComponentModel.DataAnnotations;

namespace Catalog.Storage;

/// <summary>Storage settings, bound from the <c>Catalog:Storage</c> section.</summary>
public sealed class StorageOptions
{
    public const string Section = "Catalog:Storage";

    /// <summary>Upper bound of pooled PostgreSQL connections; beyond it callers get 503.</summary>
    [Range(2, 1000)]
    public int MaxPoolSize { get; set; } = 64;

    /// <summary>How long a request may wait for a pooled connection before it is answered 503.</summary>
    [Range(1, 120)]
    public int ConnectionTimeoutSeconds { get; set; } = 5;

    /// <summary>Apply migrations when the server starts (off by default: use the migrate command).</summary>
    public bool MigrateOnStart { get; set; }
}
