using System.Text.Json.Nodes;
using Catalog.Contracts;

namespace Catalog.Production.Jobs;

/// <summary>One job of a slice: array task <see cref="Task"/> runs it.</summary>
public sealed record SliceJob(int Index, int Task, int Attempt, long Seed, long FirstEvent, int Events, int Run, string[]? Inputs, int Generation = 0);

/// <summary>An SE a job may write to, in the order it tries them (its destination first, then the failovers).</summary>
public sealed record SliceSe(string Name, string BaseUrl);

/// <summary>
/// Everything one Slurm array needs, written to a file (owner-only: it carries the catalog token)
/// before sbatch: the jobs never read the production database.
/// </summary>
public sealed record Slice(
    long Production, string Name, ProductionKind Kind, string Dataset, string DataLevel, long OutputSize, string Site,
    Uri CatalogUrl, string CatalogToken, Uri ReportUrl, string ReportKey, string Spool, int RegistrationPatienceSeconds,
    JsonObject Metadata, IReadOnlyList<SliceSe> Ses, IReadOnlyList<SliceJob> Jobs);

/// <summary>What a production's jobs register: the file, its replica, its metadata and parents.</summary>
public static class OutputFile
{
    /// <summary>The attributes every output carries (declared by <c>Catalog.Production schema PATH</c>).</summary>
    public static readonly IReadOnlyList<(string Name, AttributeType Type)> Attributes =
    [
        ("nEvents", AttributeType.Integer), ("experiment", AttributeType.Integer), ("runLow", AttributeType.Integer),
        ("runHigh", AttributeType.Integer), ("seed", AttributeType.Integer), ("site", AttributeType.String),
        ("release", AttributeType.String), ("globalTag", AttributeType.String), ("mcEventType", AttributeType.String),
        ("campaign", AttributeType.String), ("beamEnergy", AttributeType.String), ("dataLevel", AttributeType.String),
        ("production", AttributeType.String),
    ];

    /// <summary>The output file's name: fixed by production and index, so a re-run job makes the same file.</summary>
    public static string Name(string production, string dataLevel, int index) => $"{dataLevel}_{index:D8}_{production}.root";

    /// <summary>A seed per (production, job): FNV-1a of the name, mixed with the index by splitmix64.</summary>
    public static long Seed(string production, int index)
    {
        var h = 14695981039346656037UL;
        foreach (var c in production) { h ^= c; h *= 1099511628211UL; }
        var z = h + (ulong)index * 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (long)((z ^ (z >> 31)) & long.MaxValue);
    }

    /// <summary>The production-wide metadata, from its definition.</summary>
    public static JsonObject Common(ProductionSpec spec)
    {
        var m = new JsonObject { ["production"] = spec.Name, ["dataLevel"] = spec.DataLevel ?? "mdst" };
        if (spec.Release is not null) m["release"] = spec.Release;
        if (spec.GlobalTag is not null) m["globalTag"] = spec.GlobalTag;
        if (spec.McEventType is not null) m["mcEventType"] = spec.McEventType;
        if (spec.Campaign is not null) m["campaign"] = spec.Campaign;
        if (spec.BeamEnergy is not null) m["beamEnergy"] = spec.BeamEnergy;
        if (spec.Experiment is not null) m["experiment"] = spec.Experiment;
        return m;
    }

    /// <summary>
    /// Fixed by (production, job index) whatever the attempt: a re-run can never register a second
    /// output. Only a recover of an output the catalog lost starts a new generation (a new key).
    /// </summary>
    public static string IdempotencyKey(long production, int index, int generation) =>
        generation == 0 ? $"production/{production}/job/{index}" : $"production/{production}/job/{index}/g{generation}";

    public static NewFile Describe(JsonObject common, string dataset, string site, SliceJob job, long events, JobOutput output)
    {
        var metadata = (JsonObject)common.DeepClone();
        metadata["nEvents"] = events;
        metadata["runLow"] = job.Run;
        metadata["runHigh"] = job.Run;
        metadata["seed"] = job.Seed;
        metadata["site"] = site;
        return new NewFile(output.Name, output.Size, output.Adler32, Replicas: [new NewReplica(output.Se, output.Pfn)],
            Metadata: metadata, Dataset: dataset, Parents: job.Inputs);
    }
}
