using System.Text.Json.Nodes;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Metadata;

/// <summary>Datasets are open or closed (no more files; only closed ones go into collections) and may have a lifetime after which they are flagged for deletion.</summary>
[Collection(CatalogCollection.Name)]
public class DatasetStateTests(CatalogFixture fx) : MetadataTestBase(fx)
{
    [Fact]
    public async Task A_closed_dataset_takes_no_more_files_and_only_closed_datasets_go_into_collections()
    {
        var area = await DeclareDomainSchemaAsync(Area());
        var se = await Fx.NewStorageElementAsync();
        var ds = $"{area}/mdst";
        await Fx.Client.CreateDatasetAsync(new DatasetRequest(ds));
        await Fx.Client.RegisterAsync([File("a.root", se, new JsonObject { ["nEvents"] = 1 }, dataset: ds)]);

        var open = await Assert.ThrowsAsync<CatalogConflictException>(() => Fx.Client.CreateCollectionAsync(new CollectionRequest($"{area}/coll", [ds])));
        Assert.Equal("members[0]", open.Field);
        Assert.Contains("is open; close it first", open.Message);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => Fx.Client.StatAsync($"{area}/coll"));

        var closed = await Fx.Client.CloseDatasetAsync(ds);
        Assert.Equal(DatasetState.Closed, closed.State);
        Assert.Equal(closed, await Fx.Client.CloseDatasetAsync(ds)); // closing again changes nothing
        var refused = await Fx.Client.RegisterAsync([File("b.root", se, new JsonObject { ["nEvents"] = 1 }, dataset: ds)]);
        Assert.Equal((ErrorCode.Conflict, "files[0].dataset"), (refused.Results[0].Error!.Code, refused.Results[0].Error!.Field));
        Assert.Contains("is closed", refused.Results[0].Error!.Message);
        var retry = await Fx.Client.RegisterAsync([File("a.root", se, new JsonObject { ["nEvents"] = 1 }, dataset: ds)]);
        Assert.Equal(ItemStatus.Exists, retry.Results[0].Status); // a job's retry of a file it holds is still answered
        Assert.Equal(1, (await Fx.Client.GetDatasetSummaryAsync(ds)).Files);
        Assert.Equal([ds], (await Fx.Client.CreateCollectionAsync(new CollectionRequest($"{area}/coll", [ds]))).Members);

        // Only a data manager reopens (a collection may hold it); its writer may close it.
        var owner = Fx.ClientWith(await Fx.IssueTokenAsync("w-" + Guid.NewGuid().ToString("N")[..6], ["producer"], [$"storage.create:{area}", $"storage.read:{area}"]));
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => owner.ReopenDatasetAsync(ds));
        Assert.Equal(DatasetState.Open, (await Fx.Client.ReopenDatasetAsync(ds)).State);
        Assert.Equal(ItemStatus.Created, (await Fx.Client.RegisterAsync([File("b.root", se, new JsonObject { ["nEvents"] = 1 }, dataset: ds)])).Results[0].Status);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => Fx.Client.CloseDatasetAsync($"{area}/nope"));
    }

    [Fact]
    public async Task A_closed_dataset_refuses_files_sent_by_full_LFN_too_and_makes_no_directory_for_them()
    {
        var area = await DeclareDomainSchemaAsync(Area());
        var se = await Fx.NewStorageElementAsync();
        var ds = $"{area}/mdst";
        await Fx.Client.CreateDatasetAsync(new DatasetRequest(ds));
        var held = (await Fx.Client.RegisterAsync([File("a.root", se, new JsonObject { ["nEvents"] = 1 }, dataset: ds)])).Results[0].Lfn!;
        await Fx.Client.CloseDatasetAsync(ds);

        var refused = await Fx.Client.RegisterAsync(
        [
            File($"{ds}/sub00/b.root", se, new JsonObject { ["nEvents"] = 1 }),       // into its datablock
            File($"{ds}/sub07/c.root", se, new JsonObject { ["nEvents"] = 1 }),       // into a datablock not made yet
            File(held, se, new JsonObject { ["nEvents"] = 1 }),                        // a retry of a file it holds
        ]);
        foreach (var i in new[] { 0, 1 })
        {
            Assert.Equal((ErrorCode.Conflict, $"files[{i}].lfn"), (refused.Results[i].Error!.Code, refused.Results[i].Error!.Field));
            Assert.Contains($"dataset '{ds}' is closed", refused.Results[i].Error!.Message);
        }
        Assert.Equal(ItemStatus.Exists, refused.Results[2].Status);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => Fx.Client.StatAsync($"{ds}/sub00/b.root"));
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => Fx.Client.StatAsync($"{ds}/sub07"));
        Assert.Equal(1, (await Fx.Client.GetDatasetSummaryAsync(ds)).Files);

        await Fx.Client.ReopenDatasetAsync(ds);
        Assert.Equal(ItemStatus.Created, (await Fx.Client.RegisterAsync([File($"{ds}/sub00/b.root", se, new JsonObject { ["nEvents"] = 1 })])).Results[0].Status);
    }

    [Fact]
    public async Task A_dataset_past_its_lifetime_is_flagged_for_deletion()
    {
        var area = Area();
        await Fx.Client.MakeDirectoryAsync(area, parents: true);
        foreach (var name in new[] { "old", "young", "forever" }) await Fx.Client.CreateDatasetAsync(new DatasetRequest($"{area}/{name}"));
        await Fx.Client.SetDatasetLifetimeAsync($"{area}/old", DateTimeOffset.UtcNow.AddMinutes(-1));
        var young = await Fx.Client.SetDatasetLifetimeAsync($"{area}/young", DateTimeOffset.UtcNow.AddDays(30));
        Assert.InRange(young.Expires!.Value, DateTimeOffset.UtcNow.AddDays(29), DateTimeOffset.UtcNow.AddDays(31));

        Assert.Equal([$"{area}/old"], (await Fx.Client.ListExpiredDatasetsAsync(area)).Select(d => d.Path));
        Assert.Null((await Fx.Client.SetDatasetLifetimeAsync($"{area}/old", null)).Expires);
        Assert.Empty(await Fx.Client.ListExpiredDatasetsAsync(area));
        Assert.Equal([null, null, young.Expires], (await Fx.Client.ListDatasetsAsync(area)).Select(d => d.Expires)); // forever, old, young
    }
}
