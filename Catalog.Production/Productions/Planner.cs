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
    public static string OutputName(string production, string dataLevel, int index) => $"{dataLevel}_{index:D8}_{production}.root";

    /// <summary>The run a job's events belong to: the run range is walked round-robin.</summary>
    public static int Run(ProductionSpec spec, int index) =>
        spec.RunLow is { } low && spec.RunHigh is { } high ? low + index % (high - low + 1) : spec.RunLow ?? 0;

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
}
