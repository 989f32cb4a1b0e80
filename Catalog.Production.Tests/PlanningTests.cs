using Catalog.Modules;
using Catalog.Contracts;
using Catalog.Grid;
using Catalog.Production.Jobs;
using Catalog.Production.Productions;

namespace Catalog.Production.Tests;

public class PlanningTests
{
    [Fact]
    public void A_simulation_splits_its_events_exactly_with_a_short_last_job_and_sites_in_turn()
    {
        var jobs = Planner.Simulation("p", ["DESY", "KEK", "PNNL"], 10_500, 1000).ToList();
        Assert.Equal(11, jobs.Count);
        Assert.Equal(10_500, jobs.Sum(j => (long)j.Events));
        Assert.Equal(500, jobs[^1].Events);
        Assert.Equal(Enumerable.Range(0, 11).Select(i => i * 1000L), jobs.Select(j => j.FirstEvent));
        Assert.Equal(["DESY", "KEK", "PNNL", "DESY"], jobs.Take(4).Select(j => j.Site));
    }

    [Fact]
    public void Seeds_are_fixed_by_production_and_index_and_differ_between_jobs_and_productions()
    {
        var a = Planner.Simulation("p", ["KEK"], 100_000, 1).Select(j => j.Seed).ToList();
        Assert.Equal(a.Count, a.Distinct().Count());
        Assert.Equal(a, Planner.Simulation("p", ["KEK"], 100_000, 1).Select(j => j.Seed));
        Assert.NotEqual(a[0], Planner.Seed("q", 0));
        Assert.All(a, s => Assert.True(s >= 0));
    }

    [Fact]
    public void Extending_continues_the_indexes_and_events_where_the_production_ended()
    {
        var more = Planner.Simulation("p", ["KEK", "DESY"], 2000, 1000, from: 5, firstEvent: 5000).ToList();
        Assert.Equal([5, 6], more.Select(j => j.Index));
        Assert.Equal([5000L, 6000L], more.Select(j => j.FirstEvent));
        Assert.Equal(Planner.Seed("p", 5), more[0].Seed);
    }

    [Fact]
    public void Processing_groups_the_inputs_in_LFN_order()
    {
        var jobs = Planner.Processing("p", ["KEK"], ["/b/3", "/b/1", "/b/2"], 2).ToList();
        Assert.Equal([["/b/1", "/b/2"], ["/b/3"]], jobs.Select(j => j.Inputs!));
    }

    [Fact]
    public void Runs_are_walked_round_robin_over_the_range()
    {
        var spec = new ProductionSpec("p", ProductionKind.Simulation, "/belle/x", RunLow: 10, RunHigh: 12);
        Assert.Equal([10, 11, 12, 10], Enumerable.Range(0, 4).Select(i => Planner.Run(spec, i)));
    }

    [Fact]
    public void Adler32_matches_the_reference_values()
    {
        var a = new Adler32();
        a.Update("Wikipedia"u8);
        Assert.Equal("11e60398", a.Hex);
        var big = new Adler32();
        var bytes = Enumerable.Range(0, 100_000).Select(i => (byte)(i * 31)).ToArray();
        big.Update(bytes.AsSpan(0, 7000));
        big.Update(bytes.AsSpan(7000));
        var once = new Adler32();
        once.Update(bytes);
        Assert.Equal(once.Hex, big.Hex);
    }

    [Fact]
    public void The_output_of_a_seed_is_the_same_file_every_time()
    {
        var (a, b) = (Path.GetTempFileName(), Path.GetTempFileName());
        try
        {
            Assert.Equal(OutputContent.Write(a, 42, 100_003), OutputContent.Write(b, 42, 100_003));
            Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
            Assert.NotEqual(OutputContent.Write(b, 43, 100_003), OutputContent.Write(a, 42, 100_003));
        }
        finally { File.Delete(a); File.Delete(b); }
    }
}

public class JobStateTests
{
    [Fact]
    public void A_killed_job_never_moves_and_a_registered_one_only_back_to_planned_by_a_recover()
    {
        Assert.All(Enum.GetValues<JobState>(), to => Assert.False(JobStates.CanMove(JobState.Killed, to)));
        Assert.Equal([JobState.Planned], Enum.GetValues<JobState>().Where(to => JobStates.CanMove(JobState.Registered, to)));
    }

    [Fact]
    public void Reports_cannot_move_a_job_backwards()
    {
        Assert.False(JobStates.CanMove(JobState.Uploading, JobState.Running));
        Assert.False(JobStates.CanMove(JobState.Running, JobState.Submitted));
        Assert.False(JobStates.CanMove(JobState.Failed, JobState.Running));
        Assert.DoesNotContain((short)JobState.Registered, JobStates.From(JobState.Running));
    }

    [Fact]
    public void Only_a_reservation_goes_back_to_planned_without_a_failure()
    {
        var into = JobStates.From(JobState.Planned).Select(s => (JobState)s).ToHashSet();
        Assert.Equal(new HashSet<JobState> { JobState.Reserved, JobState.Failed, JobState.Registered }, into);
    }
}

public class DefinitionTests
{
    private static readonly ProductionSpec Good = new("mc", ProductionKind.Simulation, "/belle/MC/x/mdst", Release: "r", GlobalTag: "g", Events: 10, EventsPerJob: 2);

    [Theory]
    [InlineData("name")]
    [InlineData("kind")]
    [InlineData("outputDataset")]
    [InlineData("events")]
    [InlineData("outputSize")]
    [InlineData("dataLevel")]
    [InlineData("experiment")]
    public void Each_rule_names_its_field(string field)
    {
        var bad = field switch
        {
            "name" => Good with { Name = "../x" },
            "kind" => Good with { Kind = null },
            "outputDataset" => Good with { OutputDataset = "/belle/MC/x/" },
            "events" => Good with { Events = -1 },
            "outputSize" => Good with { OutputSize = 0 },
            "dataLevel" => Good with { DataLevel = "MDST!" },
            _ => Good with { Experiment = -3 },
        };
        var e = Assert.Throws<ServiceException>(() => DefinitionCheck.Validate(bad));
        Assert.Equal(field, e.Field);
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
    }

    [Fact]
    public void Too_many_jobs_is_refused_before_planning()
    {
        var e = Assert.Throws<ServiceException>(() => DefinitionCheck.Validate(Good with { Events = 100_000_000_000, EventsPerJob = 1 }));
        Assert.Equal("eventsPerJob", e.Field);
    }

    [Fact]
    public void Defaults_are_filled_in()
    {
        var v = DefinitionCheck.Validate(Good);
        Assert.Equal("mdst", v.DataLevel);
        Assert.Equal(65536, v.OutputSize);
    }
}
