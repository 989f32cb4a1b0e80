namespace Catalog.Monitor;

/// <summary>The monitor's settings (section "Monitor"); defaults suit the local grid.</summary>
public sealed class MonitorOptions
{
    public const string Section = "Monitor";

    /// <summary>The catalog it probes and reads; its token (or a file holding it): a data manager's, to read the change feed and switch SEs.</summary>
    public Uri CatalogUrl { get; set; } = new("http://127.0.0.1:5080/");
    public string? CatalogToken { get; set; }
    public string? CatalogTokenFile { get; set; }

    /// <summary>The production and transfer services (optional: without them, their series and readiness are not watched).</summary>
    public Uri? ProductionUrl { get; set; }
    public Uri? TransferUrl { get; set; }

    /// <summary>How often every target is probed.</summary>
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long one probe step may take before it counts as failed.</summary>
    public TimeSpan StepTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a site's test job may take, queue wait included.</summary>
    public TimeSpan SiteJobTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Failed probes in a row that ban a target, and passes in a row that make a degraded or probing target Active again.</summary>
    public int BanAfter { get; set; } = 3;
    public int RecoverAfter { get; set; } = 3;

    /// <summary>How long before a downtime an SE drains (takes no new work), unless the downtime says.</summary>
    public TimeSpan DefaultDrain { get; set; } = TimeSpan.FromHours(2);

    /// <summary>How often the passive series are read (their resolution stays one minute; counters add up within it).</summary>
    public TimeSpan SampleInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>One-minute points are kept this long; hourly averages this long.</summary>
    public TimeSpan MinuteRetention { get; set; } = TimeSpan.FromDays(35);
    public TimeSpan HourRetention { get; set; } = TimeSpan.FromDays(400);

    /// <summary>The Slurm configuration the site probes submit with (none: no site probes).</summary>
    public string? SlurmConf { get; set; }

    /// <summary>Where probe files live on each SE (outside the catalog's namespace).</summary>
    public string ProbeDirectory { get; set; } = "/monitor/probes";

    /// <summary>Where the catalog probe registers its file (under a catalog root, outside any dataset; it lives for a few milliseconds).</summary>
    public string CatalogProbeDirectory { get; set; } = "/belle/monitor/probes";

    /// <summary>The catalog roots whose usage makes the catalog's size.</summary>
    public List<string> CatalogRoots { get; set; } = [];
}
