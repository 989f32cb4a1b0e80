namespace Catalog.Contracts;

/// <summary>What a production makes: MC simulation (events to files) or processing (an input dataset's files to output files).</summary>
public enum ProductionKind { Simulation, Processing }

/// <summary>Whether a production's jobs are being submitted.</summary>
public enum ProductionState { Active, Paused, Killed, Done }

/// <summary>Where one job of a production is. Registered is done; the allowed moves are in the production service's JobStates table.</summary>
public enum JobState { Planned, Reserved, Submitted, Running, Uploading, Registered, Failed, Killed }

/// <summary>Why a job failed, which decides how often it is tried again.</summary>
public enum FailureClass { Application, Input, Upload, Registration, Batch }

/// <summary>
/// A production as an expert defines it, once. <paramref name="DestinationSe"/> null means each job
/// writes to its own site's SE; <paramref name="Sites"/> null means every site with a writable SE.
/// Simulation needs <paramref name="Events"/> and <paramref name="EventsPerJob"/>; processing needs
/// <paramref name="InputDataset"/> and <paramref name="FilesPerJob"/>. <paramref name="Hold"/> defines it
/// paused: planned and checked, but nothing submitted until it is resumed.
/// </summary>
public sealed record ProductionSpec(
    string? Name, ProductionKind? Kind, string? OutputDataset,
    string? Release = null, string? GlobalTag = null, string? McEventType = null, string? Campaign = null,
    string? BeamEnergy = null, int? Experiment = null, int? RunLow = null, int? RunHigh = null,
    long? Events = null, int? EventsPerJob = null, string? InputDataset = null, int? FilesPerJob = null,
    string? DataLevel = null, string? DestinationSe = null, IReadOnlyList<string>? Sites = null, long? OutputSize = null, bool? Hold = null);

/// <summary>A production with its definition, state and size.</summary>
public sealed record ProductionInfo(long Id, string Name, ProductionState State, string Owner, DateTimeOffset Created,
    long Jobs, ProductionSpec Spec);

/// <summary>How many jobs of a production are in one state at one site.</summary>
public sealed record JobCount(string Site, JobState State, long Jobs);

/// <summary>A production's jobs counted by state and site, and failures by class.</summary>
public sealed record ProductionStatus(long Id, string Name, ProductionState State, long Jobs,
    IReadOnlyDictionary<string, long> ByState, IReadOnlyList<JobCount> BySite, IReadOnlyDictionary<string, long> FailuresByClass);

/// <summary>One job: what it makes, where it runs, and how it went.</summary>
public sealed record JobInfo(int Index, JobState State, string Site, int Attempts, long? SlurmJobId,
    long FirstEvent, int Events, IReadOnlyList<string>? Inputs, FailureClass? FailureClass, string? Failure,
    string? OutputLfn, string? OutputSe, DateTimeOffset Updated);

/// <summary>A page of jobs, in index order; pass <paramref name="Next"/> as <c>after</c> for the next one.</summary>
public sealed record JobPage(IReadOnlyList<JobInfo> Jobs, int? Next);

/// <summary>The file a job uploaded: enough to register it without the job.</summary>
public sealed record JobOutput(string Name, long Size, string Adler32, string Se, string Pfn, string? Lfn = null);

/// <summary>A job's own report of its progress (sent by the payload, with the production's report key).</summary>
public sealed record JobReport(int Attempt, JobState State, FailureClass? FailureClass = null, string? Message = null, JobOutput? Output = null);

/// <summary>Makes a simulation production larger by <paramref name="Events"/> more events.</summary>
public sealed record ExtendRequest(long? Events);

/// <summary>What a recovery did: outputs found in the catalog, jobs planned again, jobs left over their limit.</summary>
public sealed record RecoverResponse(int FoundInCatalog, int Resubmitted, int OverLimit);
