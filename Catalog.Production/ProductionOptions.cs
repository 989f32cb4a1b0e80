using Catalog.Contracts;

namespace Catalog.Production;

/// <summary>The production service's settings (section "Production"); defaults are the local grid's.</summary>
public sealed class ProductionOptions
{
    public const string Section = "Production";

    /// <summary>The catalog the service and its jobs register into.</summary>
    public Uri CatalogUrl { get; set; } = new("http://127.0.0.1:5080/");

    /// <summary>The service's own catalog token (or a file holding it): it creates datasets, and its jobs register with it.</summary>
    public string? CatalogToken { get; set; }
    public string? CatalogTokenFile { get; set; }

    /// <summary>Where the jobs reach this service to report (this service's own URL).</summary>
    public Uri PublicUrl { get; set; } = new("http://127.0.0.1:5090/");

    /// <summary>Slice files (what each Slurm array runs) and the jobs' local copies of outputs until registered.</summary>
    public string SpoolDirectory { get; set; } = Path.Combine(Path.GetTempPath(), "catalog-production");

    /// <summary>The slurm.conf of the cluster (the local grid's by default, from SLURM_CONF).</summary>
    public string? SlurmConf { get; set; } = Environment.GetEnvironmentVariable("SLURM_CONF");

    /// <summary>The most jobs one Slurm array takes (Slurm's default MaxArraySize is 1001: task ids 0-1000).</summary>
    public int SliceSize { get; set; } = 1000;

    /// <summary>The most jobs of all productions queued or running at one site.</summary>
    public int SiteCap { get; set; } = 2000;

    public TimeSpan SubmitInterval { get; set; } = TimeSpan.FromSeconds(1);
    public TimeSpan WatchInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How old the catalog's SE list the submitter chooses output SEs from may get before it is read again.</summary>
    public TimeSpan StorageElementRefresh { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a job whose array has left Slurm's queue may stay without a final report before it counts as a batch failure.</summary>
    public TimeSpan LostAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often a failed job is tried again by itself, per reason class (a person's recover may go further).</summary>
    public Dictionary<FailureClass, int> RetryLimits { get; set; } = new()
    {
        [FailureClass.Application] = 2, [FailureClass.Input] = 3, [FailureClass.Upload] = 3,
        [FailureClass.Registration] = 5, [FailureClass.Batch] = 3,
    };

    /// <summary>The attempts beyond which even a recover leaves a job alone.</summary>
    public int MaxAttempts { get; set; } = 10;

    /// <summary>How long a job keeps retrying its registration while the catalog is unreachable, before handing its output to the service.</summary>
    public TimeSpan RegistrationPatience { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The command Slurm runs for a job, before the slice file (default: this assembly's "job" mode).</summary>
    public string? PayloadCommand { get; set; }

    /// <summary>Test-only: exit the process at this named point of the submission protocol (after-reserve, after-sbatch, after-record).</summary>
    public string? Fault { get; set; }
}
