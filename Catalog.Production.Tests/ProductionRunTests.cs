using Catalog.Client;
using Catalog.Contracts;
using Catalog.Production.Batch;

namespace Catalog.Production.Tests;

/// <summary>Productions run for real: Slurm runs the payload, XRootD stores the outputs, the catalog registers them.</summary>
[Collection(GridCollection.Name)]
public class ProductionRunTests(GridFixture grid)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(150);

    public static ProductionSpec Simulation(string name, long events = 6000, int perJob = 1000, IReadOnlyList<string>? sites = null) =>
        new(name, ProductionKind.Simulation, $"/belle/MC/t/{name}/mdst", Release: "release-08-01-00", GlobalTag: "main_2024",
            McEventType: "mixed", Campaign: "MC15ri", BeamEnergy: "4S", Experiment: 1003, RunLow: 10, RunHigh: 12,
            Events: events, EventsPerJob: perJob, Sites: sites, OutputSize: 32768);

    public static string Unique(string what) => $"{what}{Guid.NewGuid():N}"[..20];

    private static bool Done(ProductionStatus s) => s.State == ProductionState.Done;

    [Fact]
    public async Task A_simulation_puts_every_output_on_its_sites_SE_with_its_checksum_registered_once_with_metadata()
    {
        var name = Unique("sim");
        var created = await grid.Production.CreateAsync(Simulation(name));
        Assert.Equal(6, created.Jobs);
        var status = await grid.WaitAsync(name, Done, Patience);

        var page = await grid.Production.JobsAsync(name, limit: 100);
        Assert.Equal(6, page.Jobs.Count);
        // The counters the triggers keep agree with the jobs themselves.
        Assert.Equal(6, status.Jobs);
        Assert.Equal(6, status.ByState["registered"]);
        Assert.All(status.ByState.Where(kv => kv.Key != "registered"), kv => Assert.Equal(0, kv.Value));
        Assert.Equal(page.Jobs.GroupBy(j => j.Site).ToDictionary(g => g.Key, g => (long)g.Count()),
            status.BySite.ToDictionary(c => c.Site, c => c.Jobs));
        foreach (var job in page.Jobs)
        {
            Assert.Equal(JobState.Registered, job.State);
            Assert.Equal($"{job.Site}-DISK", job.OutputSe);
            var file = await grid.Catalog.GetFileAsync(job.OutputLfn!);
            var replica = Assert.Single(file.Replicas);
            Assert.Equal($"{job.Site}-DISK", replica.Se);
            // The SE holds the bytes under the PFN the catalog gives, with the catalog's checksum.
            var local = Path.Combine(grid.SeData(replica.Se), new Uri(replica.Pfn).AbsolutePath.TrimStart('/'));
            var adler = new Catalog.Grid.Adler32();
            adler.Update(await File.ReadAllBytesAsync(local));
            Assert.Equal(file.Adler32, adler.Hex);
            Assert.Equal(32768, file.Size);
        }
        var summary = await grid.Catalog.GetDatasetSummaryAsync($"/belle/MC/t/{name}/mdst");
        Assert.Equal(6, summary.Files);
        Assert.Equal(6000, summary.Events);
        Assert.Equal((10, 12), (summary.RunLow, summary.RunHigh));
        var meta = await grid.Catalog.GetMetadataAsync([page.Jobs[0].OutputLfn!]);
        Assert.Equal("main_2024", meta.Results[0].Own!["globalTag"]!.GetValue<string>());
        Assert.Equal(name, meta.Results[0].Own!["production"]!.GetValue<string>());
        // Each job ran once; Slurm got one array per site.
        var id = created.Id;
        Assert.Equal(6, grid.Runs().Count(r => r.Production == id));
        Assert.Equal(6, grid.Runs().Where(r => r.Production == id).Select(r => r.Index).Distinct().Count());
        Assert.Equal(3, await grid.SlurmSubmissionsNamedAsync($"{name}_s"));
    }

    [Fact]
    public async Task A_processing_production_reads_its_inputs_and_records_them_as_parents()
    {
        var input = Unique("in");
        await grid.Production.CreateAsync(Simulation(input, events: 4000));
        await grid.WaitAsync(input, Done, Patience);

        var name = Unique("proc");
        var spec = new ProductionSpec(name, ProductionKind.Processing, $"/belle/MC/t/{name}/udst", Release: "release-08-01-00", GlobalTag: "main_2024",
            InputDataset: $"/belle/MC/t/{input}/mdst", FilesPerJob: 2, DataLevel: "udst", Sites: ["DESY"]);
        var created = await grid.Production.CreateAsync(spec);
        Assert.Equal(2, created.Jobs);
        await grid.WaitAsync(name, Done, Patience);

        var jobs = (await grid.Production.JobsAsync(name)).Jobs;
        foreach (var job in jobs)
        {
            Assert.Equal(2, job.Inputs!.Count);
            var lineage = await grid.Catalog.LineageAsync(job.OutputLfn!);
            Assert.Equal(job.Inputs.Order(), lineage.Edges.Select(e => e.Parent).Order());
            var meta = await grid.Catalog.GetMetadataAsync([job.OutputLfn!]);
            Assert.Equal(2000, meta.Results[0].Own!["nEvents"]!.GetValue<long>());
        }
    }

    [Fact]
    public async Task An_SE_that_refuses_uploads_makes_the_jobs_fail_over_and_register_the_replica_where_it_went()
    {
        var name = Unique("fail");
        grid.StopSe("PNNL-DISK");
        try
        {
            await grid.Production.CreateAsync(Simulation(name, events: 2000, sites: ["PNNL"]));
            await grid.WaitAsync(name, Done, Patience);
        }
        finally { await grid.StartGridAsync(); }
        foreach (var job in (await grid.Production.JobsAsync(name)).Jobs)
        {
            Assert.Equal("PNNL", job.Site);
            Assert.NotEqual("PNNL-DISK", job.OutputSe);
            var replica = Assert.Single((await grid.Catalog.GetFileAsync(job.OutputLfn!)).Replicas);
            Assert.Equal(job.OutputSe, replica.Se);
            Assert.True(File.Exists(Path.Combine(grid.SeData(replica.Se), new Uri(replica.Pfn).AbsolutePath.TrimStart('/'))));
        }
    }

    [Fact]
    public async Task A_catalog_outage_during_registration_loses_nothing()
    {
        var name = Unique("outage");
        await grid.Production.CreateAsync(Simulation(name, events: 3000) with { Sites = ["KEK"] });
        await grid.Production.PauseAsync(name);
        await grid.StopCatalogAsync();
        try
        {
            await grid.Production.ResumeAsync(name);
            // The jobs run, upload, and find no catalog: they say so (uploading) and wait.
            await grid.WaitAsync(name, s => s.ByState["uploading"] == 3, Patience);
            await Task.Delay(3000);
            Assert.Equal(0, (await grid.Production.StatusAsync(name)).ByState["registered"]);
        }
        finally { await grid.StartCatalogAsync(); }
        await grid.WaitAsync(name, Done, Patience);
        var summary = await grid.Catalog.GetDatasetSummaryAsync($"/belle/MC/t/{name}/mdst");
        Assert.Equal(3, summary.Files);
    }

    [Theory]
    [InlineData(FaultPoints.AfterReserve)]
    [InlineData(FaultPoints.AfterSbatch)]
    [InlineData(FaultPoints.AfterRecord)]
    public async Task Killing_the_service_at_any_submission_step_never_submits_a_job_twice(string point)
    {
        var name = Unique("kill");
        await grid.StopProductionAsync();
        await grid.StartProductionAsync(fault: point);
        var created = await grid.Production.CreateAsync(Simulation(name, events: 3000, sites: ["DESY"]));
        Assert.True(await grid.ProductionExitedAsync(TimeSpan.FromSeconds(60)), "the service did not reach the fault point");
        await grid.StartProductionAsync();
        await grid.WaitAsync(name, Done, Patience);

        Assert.Equal(1, await grid.SlurmSubmissionsNamedAsync($"{name}_s"));
        var runs = grid.Runs().Where(r => r.Production == created.Id).ToList();
        Assert.Equal(3, runs.Count);
        Assert.Equal([0, 1, 2], runs.Select(r => r.Index).Order());
        Assert.Equal(3, (await grid.Catalog.GetDatasetSummaryAsync($"/belle/MC/t/{name}/mdst")).Files);
    }

    [Fact]
    public async Task A_recover_plans_again_only_the_outputs_the_catalog_lacks()
    {
        var name = Unique("recover");
        var created = await grid.Production.CreateAsync(Simulation(name, events: 4000, sites: ["KEK"]));
        await grid.WaitAsync(name, Done, Patience);
        var lost = (await grid.Production.JobsAsync(name)).Jobs[2];
        await grid.Catalog.RemoveAsync([lost.OutputLfn!]);

        var recovered = await grid.Production.RecoverAsync(name);
        Assert.Equal(new RecoverResponse(0, 1, 0), recovered);
        await grid.WaitAsync(name, Done, Patience);
        var runs = grid.Runs().Where(r => r.Production == created.Id).ToList();
        Assert.Equal(5, runs.Count);
        Assert.Equal(2, runs.Count(r => r.Index == lost.Index));
        Assert.Equal(4, (await grid.Catalog.GetDatasetSummaryAsync($"/belle/MC/t/{name}/mdst")).Files);
    }

    [Fact]
    public async Task Extending_a_done_simulation_adds_jobs_after_the_last_with_their_own_events_and_seeds()
    {
        var name = Unique("ext");
        await grid.Production.CreateAsync(Simulation(name, events: 2000, sites: ["DESY"]));
        await grid.WaitAsync(name, Done, Patience);
        var extended = await grid.Production.ExtendAsync(name, 1500);
        Assert.Equal(4, extended.Jobs);
        Assert.Equal(3500, extended.Spec.Events);
        await grid.WaitAsync(name, s => Done(s) && s.Jobs == 4, Patience);
        var jobs = (await grid.Production.JobsAsync(name)).Jobs;
        Assert.Equal([0L, 1000L, 2000L, 3000L], jobs.Select(j => j.FirstEvent));
        Assert.Equal([1000, 1000, 1000, 500], jobs.Select(j => j.Events));
        var summary = await grid.Catalog.GetDatasetSummaryAsync($"/belle/MC/t/{name}/mdst");
        Assert.Equal((4, 3500L), (summary.Files, summary.Events));
    }

    [Fact]
    public async Task Kill_leaves_no_job_to_submit_and_nothing_of_it_in_Slurm_and_pause_holds_submission()
    {
        var name = Unique("killp");
        await grid.Production.CreateAsync(Simulation(name, events: 40_000) with { Hold = true });
        await Task.Delay(2000);
        var held = await grid.Production.StatusAsync(name);
        Assert.Equal(ProductionState.Paused, held.State);
        Assert.Equal(40, held.ByState["planned"]);
        Assert.Equal(0, await grid.SlurmSubmissionsNamedAsync($"{name}_s"));

        await grid.Production.ResumeAsync(name);
        await grid.WaitAsync(name, s => s.ByState["planned"] < 40, TimeSpan.FromSeconds(60));
        var killed = await grid.Production.KillAsync(name);
        Assert.Equal(ProductionState.Killed, killed.State);
        var after = await grid.Production.StatusAsync(name);
        Assert.Equal(40, after.ByState["killed"] + after.ByState["registered"]);
        // Cancelled tasks leave the queue once Slurm has stopped them (completing, then gone).
        var left = -1;
        for (var i = 0; i < 30 && left != 0; i++, await Task.Delay(500))
            left = (await GridFixture.RunAsync("squeue", ["--noheader", "--array", "--format=%j"], new() { ["SLURM_CONF"] = grid.Grid["SLURM_CONF"] }))
                .Split('\n').Count(j => j.StartsWith($"{name}_s"));
        Assert.Equal(0, left);
        await Task.Delay(3000);
        Assert.Equal(after.ByState["registered"], (await grid.Production.StatusAsync(name)).ByState["registered"]);
        var again = await Assert.ThrowsAsync<CatalogConflictException>(() => grid.Production.ResumeAsync(name));
        Assert.Equal("state", again.Field);
    }

    [Fact]
    public async Task A_bad_definition_is_refused_with_the_field_named_and_stores_nothing()
    {
        var name = Unique("bad");
        var good = Simulation(name);
        var cases = new (ProductionSpec Spec, string Field)[]
        {
            (good with { Name = null }, "name"),
            (good with { Name = "has space" }, "name"),
            (good with { Events = 0 }, "events"),
            (good with { EventsPerJob = null }, "eventsPerJob"),
            (good with { OutputDataset = "/elsewhere/x" }, "outputDataset"),
            (good with { DestinationSe = "NOWHERE-DISK" }, "destinationSe"),
            (good with { Sites = ["MARS"] }, "sites"),
            (good with { RunLow = 5, RunHigh = 1 }, "runHigh"),
            (good with { Release = null }, "release"),
            (good with { Kind = ProductionKind.Processing, Events = null, EventsPerJob = null, InputDataset = "/belle/MC/t/none", FilesPerJob = 1 }, "inputDataset"),
            // The jobs' attributes are not declared outside /belle/MC.
            (good with { OutputDataset = $"/belle/data/t/{name}" }, "outputDataset"),
        };
        foreach (var (spec, field) in cases)
        {
            var e = await Assert.ThrowsAnyAsync<CatalogClientException>(() => grid.Production.CreateAsync(spec));
            Assert.True(e.Field == field, $"{field}: got {e.Field} ({e.Message})");
            Assert.Equal(400, e.Status);
        }
        Assert.DoesNotContain(await grid.Production.ListAsync(), p => p.Name == name);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => grid.Catalog.StatAsync($"/belle/MC/t/{name}"));

        // A dataset that already holds files belongs to someone else.
        var owner = Unique("own");
        await grid.Production.CreateAsync(Simulation(owner, events: 1000, sites: ["KEK"]));
        await grid.WaitAsync(owner, Done, Patience);
        var taken = await Assert.ThrowsAsync<CatalogConflictException>(() => grid.Production.CreateAsync(good with { OutputDataset = $"/belle/MC/t/{owner}/mdst" }));
        Assert.Equal("outputDataset", taken.Field);
        var twice = await Assert.ThrowsAsync<CatalogConflictException>(() => grid.Production.CreateAsync(Simulation(owner)));
        Assert.Equal("name", twice.Field);
    }

    [Fact]
    public async Task Without_a_token_or_with_a_reader_token_a_production_is_refused()
    {
        var anonymous = ProductionClient.Create(grid.ProductionUrl, null);
        var e = await Assert.ThrowsAsync<CatalogUnauthorizedException>(() => anonymous.CreateAsync(Simulation(Unique("anon"))));
        Assert.Equal(401, e.Status);
        await Assert.ThrowsAsync<CatalogUnauthorizedException>(() => anonymous.ListAsync());
        var reader = await grid.Catalog.IssueTokenAsync(new TokenRequest("reader", ["reader"], ["storage.read:/belle"], null, 600));
        var forbidden = await Assert.ThrowsAsync<CatalogForbiddenException>(() => ProductionClient.Create(grid.ProductionUrl, reader.Token).CreateAsync(Simulation(Unique("rdr"))));
        Assert.Equal(403, forbidden.Status);
    }
}
