using Catalog.Contracts;
using Catalog.Production.Tests;

namespace Catalog.Transfer.Tests;

/// <summary>The service killed (SIGKILL) at each point of the copy protocol: after a restart, every file is copied exactly once.</summary>
[Collection(GridCollection.Name)]
public class TransferFaultTests(GridFixture grid)
{
    [Theory]
    [InlineData(FaultPoints.AfterClaim)]
    [InlineData(FaultPoints.DuringCopy)]
    [InlineData(FaultPoints.AfterCopy)]
    [InlineData(FaultPoints.AfterRegister)]
    public async Task Killing_the_worker_at_any_point_duplicates_no_copy(string fault)
    {
        var tests = new TransferTests(grid);
        var dataset = $"/belle/Raw/t/{TransferTests.Unique("kill")}";
        // Big enough that a copy is still running 300 ms in (during-copy).
        var lfns = await tests.PlantDatasetAsync(dataset, 3, size: 48 * 1024 * 1024);
        await grid.StopTransferAsync();
        await grid.StartTransferAsync(fault);
        try { await grid.Transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "DESY-DISK")); }
        catch (HttpRequestException) { } // it may die before it answers: the rule is then evaluated at the next start
        Assert.True(await grid.TransferExitedAsync(TimeSpan.FromSeconds(60)), $"the service did not die at {fault}\n{grid.Tail("transfer.log")}");
        await grid.StartTransferAsync();
        var id = (await grid.Transfer.ListRulesAsync()).Single(r => r.Selector == dataset).Id;
        await tests.WaitRuleAsync(id, r => r.State == RuleState.Ok && r.LocksOk == 3, TimeSpan.FromSeconds(120));

        foreach (var lfn in lfns)
        {
            var copies = grid.Copies().Where(c => c.Destination.EndsWith(lfn, StringComparison.Ordinal)).ToList();
            // Exactly one copy completed, whatever was interrupted; the catalog has the replica once, available and verified.
            Assert.True(copies.Count(c => c.Exit == 0) == 1, $"{lfn}: {string.Join(", ", copies)}");
            var file = await grid.Catalog.GetFileAsync(lfn);
            Assert.Equal(ReplicaState.Available, file.Replicas.Single(r => r.Se == "DESY-DISK").State);
            Assert.Equal(file.Adler32, await Catalog.Grid.Xrootd.ChecksumAsync($"root://127.0.0.1:{grid.Grid["SE_DESY_PORT"]}/{lfn}", default));
        }
    }
}
