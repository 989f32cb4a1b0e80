using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Security;

/// <summary>Idempotency keys belong to the identity that sent them.</summary>
[Collection(CatalogCollection.Name)]
public class IdempotencyScopeTests(CatalogFixture fx)
{
    [Fact]
    public async Task Another_identity_can_neither_squat_a_key_nor_replay_its_answer()
    {
        var root = TestData.Dir("keys");
        await fx.Client.MakeDirectoryAsync(root, parents: true);
        await fx.Client.ChangeModeAsync(root, Convert.ToInt32("777", 8));
        var se = await fx.NewStorageElementAsync();
        var scopes = new[] { $"storage.create:{root}", $"storage.read:{root}" };
        var squatter = fx.ClientWith(await fx.IssueTokenAsync("squatter", ["producer"], scopes));
        var job = fx.ClientWith(await fx.IssueTokenAsync("job-owner", ["producer"], scopes));
        const string key = "job-4711-try-1";

        // The squatter takes the predictable key first, with a body of its own.
        var squatted = await squatter.RegisterAsync([TestData.File($"{root}/squat/x.root", se)], $"{key}-{root}");
        Assert.Equal(ItemStatus.Created, squatted.Results[0].Status);
        // The job's own request under the same key runs: it is not refused as a reused key.
        var own = await job.RegisterAsync([TestData.File($"{root}/job/out.root", se)], $"{key}-{root}");
        Assert.Equal(ItemStatus.Created, own.Results[0].Status);
        Assert.Equal("job-owner", (await fx.Client.StatAsync($"{root}/job/out.root")).Owner);

        // Same body, same key, other identity: a fresh execution (here: exists), never the job's stored answer.
        var body = new[] { TestData.File($"{root}/job/again.root", se) };
        Assert.Equal(ItemStatus.Created, (await job.RegisterAsync(body, $"{key}-{root}-b")).Results[0].Status);
        Assert.Equal(ItemStatus.Exists, (await squatter.RegisterAsync(body, $"{key}-{root}-b")).Results[0].Status);
    }

    [Fact]
    public async Task A_replay_is_refused_once_the_caller_may_no_longer_write_there()
    {
        var root = TestData.Dir("replay-modes");
        await fx.Client.MakeDirectoryAsync($"{root}/out", parents: true);
        await fx.Client.ChangeModeAsync($"{root}/out", Convert.ToInt32("777", 8));
        var se = await fx.NewStorageElementAsync();
        var job = fx.ClientWith(await fx.IssueTokenAsync("replayer", ["producer"], [$"storage.create:{root}", $"storage.read:{root}"]));
        var body = new[] { TestData.File($"{root}/out/a.root", se) };
        Assert.Equal(ItemStatus.Created, (await job.RegisterAsync(body, "try-1")).Results[0].Status);
        Assert.Equal(ItemStatus.Created, (await job.RegisterAsync(body, "try-1")).Results[0].Status); // the stored answer, replayed

        // The directory closes to others: the same key no longer replays the answer to this caller.
        await fx.Client.ChangeModeAsync($"{root}/out", Convert.ToInt32("755", 8));
        await Assert.ThrowsAsync<Catalog.Client.CatalogForbiddenException>(() => job.RegisterAsync(body, "try-1"));
    }
}
