using Catalog.Client;
using Catalog.Contracts;

namespace Catalog.Monitor.Tests;

/// <summary>The active and passive monitor on the local grid: real XRootD SEs, Slurm, the catalog and both services.</summary>
[Collection(MonitorCollection.Name)]
public class MonitorTests(MonitorGrid grid)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Every_SE_site_service_and_the_catalog_is_probed_step_by_step()
    {
        await grid.WaitAllActiveAsync(Patience);
        var probe = (await grid.Monitor.ProbesAsync("se:KEK-DISK", 1))[0];
        Assert.True(probe.Ok);
        Assert.Equal(["upload", "stat", "read", "checksum", "delete"], probe.Steps.Select(s => s.Name));
        Assert.All(probe.Steps, s => Assert.True(s.Milliseconds > 0));
        Assert.Equal(["register", "lookup", "remove"], (await grid.Monitor.ProbesAsync("catalog", 1))[0].Steps.Select(s => s.Name));
        Assert.Equal(["site has an SE", "job"], (await grid.Monitor.ProbesAsync("site:DESY", 1))[0].Steps.Select(s => s.Name));
        // Probe files are removed: nothing is left on the SE or in the catalog but the probe in flight.
        var probes = Path.Combine(grid.SeData("KEK-DISK"), "monitor", "probes", "KEK-DISK");
        string[] leftovers = [];
        var entries = 0;
        for (var until = DateTime.UtcNow.AddSeconds(15); DateTime.UtcNow < until; await Task.Delay(200))
        {
            leftovers = Directory.Exists(probes) ? Directory.GetFiles(probes) : [];
            entries = (await grid.Catalog.ListPageAsync("/belle/monitor/probes")).Entries.Count;
            if (leftovers.Length <= 2 && entries <= 1) break;
        }
        Assert.True(leftovers.Length <= 2, $"probe files left on the SE: {string.Join(", ", leftovers)}");
        Assert.True(entries <= 1, $"probe files left in the catalog: {entries}");
    }

    [Fact]
    public async Task A_downtime_drains_the_SE_first_then_takes_it_down_then_it_probes_its_way_back()
    {
        await grid.WaitAllActiveAsync(Patience);
        var bad = await Assert.ThrowsAsync<CatalogValidationException>(() => grid.Monitor.AddDowntimeAsync(
            new DowntimeSpec("DESY-DISK", DateTimeOffset.UtcNow.AddMinutes(5), DateTimeOffset.UtcNow.AddMinutes(1))));
        Assert.Equal("ends", bad.Field);
        var unknown = await Assert.ThrowsAsync<CatalogValidationException>(() => grid.Monitor.AddDowntimeAsync(
            new DowntimeSpec("DESY-DSIK", DateTimeOffset.UtcNow.AddMinutes(5), DateTimeOffset.UtcNow.AddMinutes(10))));
        Assert.Equal("target", unknown.Field);
        Assert.Contains("DESY-DSIK", unknown.Message);
        Assert.Empty(await grid.Monitor.DowntimesAsync());

        var starts = DateTimeOffset.UtcNow.AddSeconds(8);
        var downtime = await grid.Monitor.AddDowntimeAsync(new DowntimeSpec("DESY-DISK", starts, starts.AddSeconds(8), DrainSeconds: 3600, Reason: "disk replacement"));
        Assert.Equal("se:DESY-DISK", downtime.Target);

        await grid.WaitTargetAsync("se:DESY-DISK", t => t.Status == TargetStatus.Draining, TimeSpan.FromSeconds(20));
        var draining = await WaitSeAsync("DESY-DISK", s => !s.WriteEnabled);
        Assert.False(draining.WriteEnabled);
        Assert.True(draining.ReadEnabled);
        // No new work: the catalog takes no new replica there.
        var refused = await grid.Catalog.RegisterAsync([new NewFile($"/belle/Raw/t/dt{Guid.NewGuid():N}.root", 10, "00000001", Replicas: [new NewReplica("DESY-DISK")])]);
        Assert.Equal(ErrorCode.StorageElementWriteDisabled, refused.Results[0].Error?.Code);

        await grid.WaitTargetAsync("se:DESY-DISK", t => t.Status == TargetStatus.Downtime, TimeSpan.FromSeconds(30));
        var down = await WaitSeAsync("DESY-DISK", s => !s.ReadEnabled);
        Assert.False(down.ReadEnabled);
        Assert.Equal(StorageElementState.Offline, down.State);

        // Active, and then switched on in the catalog (in the same cycle, just after).
        await grid.WaitTargetAsync("se:DESY-DISK", t => t.Status == TargetStatus.Active && !t.SwitchedOff, TimeSpan.FromSeconds(60));
        var open = await grid.Catalog.GetStorageElementAsync("DESY-DISK");
        Assert.True(open.WriteEnabled && open.ReadEnabled);
        Assert.Equal(StorageElementState.Online, open.State);
        Assert.Equal(new Dictionary<string, string> { ["tier"] = "1", ["region"] = "europe" }, open.Attributes);
        var path = (await grid.Monitor.HistoryAsync("se:DESY-DISK")).Reverse().Select(c => c.To).ToList();
        Assert.Equal([TargetStatus.Draining, TargetStatus.Downtime, TargetStatus.Probing, TargetStatus.Active], path.SkipWhile(s => s != TargetStatus.Draining).Take(4));
    }

    private async Task<StorageElement> WaitSeAsync(string name, Func<StorageElement, bool> until)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        StorageElement se;
        while (!until(se = await grid.Catalog.GetStorageElementAsync(name)))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the catalog's {name} did not get there: {System.Text.Json.JsonSerializer.Serialize(se, CatalogJson.Options)}");
            await Task.Delay(200);
        }
        return se;
    }

    [Fact]
    public async Task An_operator_switch_is_never_undone_by_the_monitor()
    {
        await grid.WaitAllActiveAsync(Patience);
        var se = await grid.Catalog.GetStorageElementAsync("KEK-DISK");
        await grid.Catalog.PutStorageElementAsync("KEK-DISK", new StorageElementSpec(se.Site, se.Protocol, se.BaseUrl, WriteEnabled: false));
        try
        {
            // Several probe cycles pass (the SE itself is healthy): the operator's setting stays.
            var cycles = (await grid.Monitor.ProbesAsync("se:KEK-DISK", 1))[0].At;
            await grid.WaitTargetAsync("se:KEK-DISK", t => t.LastProbe!.At > cycles.AddSeconds(3), TimeSpan.FromSeconds(30));
            Assert.False((await grid.Catalog.GetStorageElementAsync("KEK-DISK")).WriteEnabled);
        }
        finally { await grid.Catalog.PutStorageElementAsync("KEK-DISK", new StorageElementSpec(se.Site, se.Protocol, se.BaseUrl)); }
    }

    [Fact]
    public async Task The_catalog_command_shows_the_status_and_schedules_downtimes()
    {
        await grid.WaitAllActiveAsync(Patience);
        var (code, output, error) = await grid.RunCliAsync("monitor");
        Assert.True(code == 0, error);
        Assert.Contains("All ", output);
        Assert.Matches(@"se:KEK-DISK\s+active\s+probe ok", output);
        Assert.Contains("dashboard: ", output);

        var from = DateTimeOffset.UtcNow.AddDays(1).ToString("yyyy-MM-ddTHH:mm:ssZ");
        var to = DateTimeOffset.UtcNow.AddDays(1).AddHours(2).ToString("yyyy-MM-ddTHH:mm:ssZ");
        (code, output, error) = await grid.RunCliAsync("downtime", "add", "PNNL-DISK", "--from", from, "--to", to, "--drain", "1h", "--reason", "cooling work");
        Assert.True(code == 0, error);
        var id = System.Text.RegularExpressions.Regex.Match(output, @"downtime (\d+)").Groups[1].Value;
        (code, output, _) = await grid.RunCliAsync("downtime", "ls");
        Assert.Contains("se:PNNL-DISK", output);
        Assert.Contains("cooling work", output);
        (code, output, error) = await grid.RunCliAsync("downtime", "add", "PNNL-DISK", "--from", to, "--to", from);
        Assert.Equal(1, code);
        Assert.Contains("ends must be after starts", error);
        (code, _, error) = await grid.RunCliAsync("downtime", "rm", id);
        Assert.True(code == 0, error);
        Assert.Empty(await grid.Monitor.DowntimesAsync());
    }
}
