namespace Catalog.Transfer;

/// <summary>The transfer service's settings (section "Transfer"); defaults suit the local grid.</summary>
public sealed class TransferOptions
{
    public const string Section = "Transfer";

    /// <summary>The catalog whose replicas the service reads and registers.</summary>
    public Uri CatalogUrl { get; set; } = new("http://127.0.0.1:5080/");

    /// <summary>The service's own catalog token (or a file holding it): a data manager's, with read and modify scopes over what rules cover.</summary>
    public string? CatalogToken { get; set; }
    public string? CatalogTokenFile { get; set; }

    /// <summary>Copies running at once, over all links.</summary>
    public int MaxActive { get; set; } = 32;

    /// <summary>The optimizer's range per link (one direction): it starts at the first, never goes beyond the second.</summary>
    public int InitialLinkConcurrency { get; set; } = 2;
    public int MaxLinkConcurrency { get; set; } = 16;

    /// <summary>Attempts of one request before it goes stuck, and the first retry's delay (doubled each time, at most MaxBackoff).</summary>
    public int MaxAttempts { get; set; } = 4;
    public TimeSpan Backoff { get; set; } = TimeSpan.FromSeconds(2);
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>When a stuck request (retries spent, or no source) is tried again, from the start.</summary>
    public TimeSpan StuckRetry { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>How long one copy may take before it counts as failed.</summary>
    public TimeSpan CopyTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>How often the dispatcher looks for work when nothing wakes it, and the reaper and expiry run.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Rules over a metadata query take new files from the feed within seconds; they are also
    /// evaluated whole this often, for files whose metadata changed after they were registered
    /// (the feed carries no metadata changes).
    /// </summary>
    public TimeSpan QueryRuleInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The copy tool (xrdcp by default; a test puts a recording wrapper in front of it).</summary>
    public string CopyCommand { get; set; } = "xrdcp";

    /// <summary>Test-only: exit the process at this named point of the copy protocol (FaultPoints).</summary>
    public string? Fault { get; set; }
}

/// <summary>The named points of the copy protocol where a test may kill the service (Transfer:Fault).</summary>
public static class FaultPoints
{
    public const string AfterClaim = "after-claim", DuringCopy = "during-copy", AfterCopy = "after-copy", AfterRegister = "after-register";
}
