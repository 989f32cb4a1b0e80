using Catalog.Contracts;

namespace Catalog.Production.Productions;

/// <summary>One job as planned: what it makes and where it runs.</summary>
public sealed record PlannedJob(int Index, string Site, long Seed, long FirstEvent, int Events, string[]? Inputs);

/// <summary>Splits a production into jobs. Pure: the same definition always gives the same jobs and seeds.</summary>
public static class Planner
{
    /// <summary>Jobs <paramref name="from"/> on of a simulation of <paramref name="events"/> events starting at <paramref name="firstEvent"/>.</summary>
    public static IEnumerable<PlannedJob> Simulation(string name, IReadOnlyList<string> sites, long events, int eventsPerJob, int from = 0, long firstEvent = 0)
    {
        var jobs = (int)((events + eventsPerJob - 1) / eventsPerJob);
        for (var i = 0; i < jobs; i++)
        {
            var index = from + i;
            var first = firstEvent + (long)i * eventsPerJob;
            yield return new PlannedJob(index, sites[index % sites.Count], Seed(name, index), first, (int)Math.Min(eventsPerJob, firstEvent + events - first), null);
        }
    }

    /// <summary>A processing production: the input files, in LFN order, <paramref name="filesPerJob"/> per job.</summary>
    public static IEnumerable<PlannedJob> Processing(string name, IReadOnlyList<string> sites, IReadOnlyList<string> inputs, int filesPerJob)
    {
        var ordered = inputs.Order(StringComparer.Ordinal).ToArray();
        for (var index = 0; index * filesPerJob < ordered.Length; index++)
            yield return new PlannedJob(index, sites[index % sites.Count], Seed(name, index), 0, 0,
                ordered.Skip(index * filesPerJob).Take(filesPerJob).ToArray());
    }

    /// <summary>The output file's name: fixed by production and index, so a re-run job makes the same file.</summary>
    public static string OutputName(string production, string dataLevel, int index) => Jobs.OutputFile.Name(production, dataLevel, index);

    /// <summary>The run a job's events belong to: the run range is walked round-robin.</summary>
    public static int Run(ProductionSpec spec, int index) =>
        spec.RunLow is { } low && spec.RunHigh is { } high ? low + index % (high - low + 1) : spec.RunLow ?? 0;

    /// <summary>A seed per (production, job), the same in the service and in the job.</summary>
    public static long Seed(string production, int index) => Jobs.OutputFile.Seed(production, index);
}
