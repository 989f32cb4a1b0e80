using System.Text.Json.Nodes;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Metadata;

/// <summary>A collection has a summary like a dataset's: the totals of the datasets it holds, nested collections included, hidden datasets left out.</summary>
[Collection(CatalogCollection.Name)]
public class CollectionSummaryTests(CatalogFixture fx) : MetadataTestBase(fx)
{
    [Fact]
    public async Task A_collection_sums_its_datasets_through_nested_collections_and_leaves_out_what_the_caller_may_not_see()
    {
        var area = await DeclareDomainSchemaAsync(Area());
        var kek = await Fx.NewStorageElementAsync();
        var desy = await Fx.NewStorageElementAsync();
        var a = $"{area}/a/mdst";
        var b = $"{area}/b/mdst";
        await Fx.Client.CreateDatasetAsync(new DatasetRequest(a, new JsonObject { ["experiment"] = 10 }, MaxFilesPerBlock: 2));
        await Fx.Client.CreateDatasetAsync(new DatasetRequest(b, new JsonObject { ["experiment"] = 12 }));
        await Fx.Client.RegisterAsync(Enumerable.Range(0, 3).Select(i => File($"a{i}.root", kek, new JsonObject { ["nEvents"] = 100, ["runLow"] = i, ["runHigh"] = i }, dataset: a)).ToList());
        await Fx.Client.RegisterAsync([File("b0.root", desy, new JsonObject { ["nEvents"] = 50, ["runLow"] = 7, ["runHigh"] = 7 }, dataset: b)]);

        var inner = $"{area}/coll/inner";
        var outer = $"{area}/coll/outer";
        await Fx.Client.CloseDatasetAsync(a);
        await Fx.Client.CloseDatasetAsync(b);
        await Fx.Client.CreateCollectionAsync(new CollectionRequest(inner, [a]));
        await Fx.Client.CreateCollectionAsync(new CollectionRequest(outer, [inner, b, a], new JsonObject { ["description"] = "both" }));

        var s = await Fx.Client.GetCollectionSummaryAsync(outer);
        var (sa, sb) = (await Fx.Client.GetDatasetSummaryAsync(a), await Fx.Client.GetDatasetSummaryAsync(b));
        Assert.Equal((2, 4L, sa.Bytes + sb.Bytes, 350L), (s.Datasets, s.Files, s.Bytes, s.Events!.Value)); // a counted once
        Assert.Equal((10L, 12L, 0L, 7L), (s.ExperimentLow!.Value, s.ExperimentHigh!.Value, s.RunLow!.Value, s.RunHigh!.Value));
        Assert.Equal(sa.Datablocks + sb.Datablocks, s.Datablocks);
        Assert.Equal([(kek, 3L), (desy, 1L)], s.PerStorageElement.Select(u => (u.Se, u.Files)).OrderByDescending(x => x.Item2));
        Assert.Equal("both", s.Metadata!["description"]!.GetValue<string>());

        // A reader from whom dataset b is hidden gets a's figures only.
        await Fx.Client.ChangeModeAsync($"{area}/b", Convert.ToInt32("700", 8));
        var reader = Fx.ClientWith(await Fx.IssueTokenAsync("ana-" + Guid.NewGuid().ToString("N")[..6], ["reader"], ["storage.read:/belle"]));
        var partial = await reader.GetCollectionSummaryAsync(outer);
        Assert.Equal((1, 3L, 300L), (partial.Datasets, partial.Files, partial.Events!.Value));
        Assert.Equal([kek], partial.PerStorageElement.Select(u => u.Se));

        await Assert.ThrowsAsync<CatalogNotFoundException>(() => Fx.Client.GetCollectionSummaryAsync($"{area}/coll/none"));
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => Fx.Client.GetCollectionSummaryAsync(a)); // a dataset is not a collection
    }
}
