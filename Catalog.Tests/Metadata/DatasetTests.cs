using System.Text.Json.Nodes;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Metadata;

[Collection(CatalogCollection.Name)]
public class DatasetTests(CatalogFixture fx) : MetadataTestBase(fx)
{
    [Fact]
    public async Task Files_fill_datablocks_in_order_and_a_retry_keeps_its_place()
    {
        var area = await DeclareDomainSchemaAsync(Area());
        var se = await Fx.NewStorageElementAsync();
        var lpn = $"{area}/mixed/mdst";
        var info = await Fx.Client.CreateDatasetAsync(new DatasetRequest(lpn, new JsonObject { ["mcEventType"] = "mixed", ["experiment"] = 10 }, MaxFilesPerBlock: 3));
        Assert.Equal(3, info.MaxFilesPerBlock);

        var first = await Fx.Client.RegisterAsync(Enumerable.Range(0, 4).Select(i => File($"f{i}.root", se, dataset: lpn)).ToList());
        var second = await Fx.Client.RegisterAsync(Enumerable.Range(4, 6).Select(i => File($"f{i}.root", se, dataset: lpn)).ToList());
        var lfns = first.Results.Concat(second.Results).Select(r => r.Lfn![(lpn.Length + 1)..]).ToList();
        Assert.Equal(["sub00/f0.root", "sub00/f1.root", "sub00/f2.root", "sub01/f3.root", "sub01/f4.root", "sub01/f5.root",
            "sub02/f6.root", "sub02/f7.root", "sub02/f8.root", "sub03/f9.root"], lfns);

        var retry = await Fx.Client.RegisterAsync([File("f4.root", se, dataset: lpn)]);
        Assert.Equal((ItemStatus.Exists, $"{lpn}/sub01/f4.root"), (retry.Results[0].Status, retry.Results[0].Lfn));
        var unknown = await Fx.Client.RegisterAsync([File("x.root", se, dataset: $"{area}/nope")]);
        Assert.Equal(ErrorCode.NotFound, unknown.Results[0].Error!.Code);
    }

    [Fact]
    public async Task Concurrent_registrations_never_overfill_a_datablock_or_open_two_with_one_number()
    {
        var area = await DeclareDomainSchemaAsync(Area());
        var se = await Fx.NewStorageElementAsync();
        var lpn = $"{area}/charged/mdst";
        await Fx.Client.CreateDatasetAsync(new DatasetRequest(lpn, MaxFilesPerBlock: 7));

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(job =>
            Fx.Client.RegisterAsync(Enumerable.Range(0, 5).Select(i => File($"job{job:D2}_{i}.root", se, dataset: lpn)).ToList())));

        var lfns = results.SelectMany(r => r.Results).Select(r => r.Lfn!).ToList();
        Assert.Equal(100, lfns.Distinct().Count());
        var perBlock = lfns.GroupBy(l => l.Split('/')[^2]).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(Enumerable.Range(0, 15).Select(b => $"sub{b:D2}"), perBlock.Keys.Order());
        Assert.All(perBlock.Values, n => Assert.InRange(n, 1, 7));
        Assert.Equal(15, (await Fx.Client.GetDatasetSummaryAsync(lpn)).Datablocks);
    }

    [Fact]
    public async Task A_summary_counts_files_bytes_events_ranges_and_replicas_per_se()
    {
        var area = await DeclareDomainSchemaAsync(Area());
        var (kek, desy) = (await Fx.NewStorageElementAsync(), await Fx.NewStorageElementAsync());
        var lpn = $"{area}/uubar/mdst";
        await Fx.Client.CreateDatasetAsync(new DatasetRequest(lpn, new JsonObject { ["experiment"] = 12, ["release"] = "release-08-01-00" }));
        await Fx.Client.RegisterAsync(Enumerable.Range(0, 4).Select(i => File($"f{i}.root", kek,
            new JsonObject { ["nEvents"] = 100, ["runLow"] = 10 * i, ["runHigh"] = 10 * i + 9 }, dataset: lpn)).ToList());
        await Fx.Client.AddReplicasAsync([new ReplicaRef($"{lpn}/sub00/f0.root", desy)]);

        var summary = await Fx.Client.GetDatasetSummaryAsync(lpn);

        Assert.Equal((4L, 4000L, 400L), (summary.Files, summary.Bytes, summary.Events));
        Assert.Equal((12L, 12L, 0L, 39L), (summary.ExperimentLow!.Value, summary.ExperimentHigh!.Value, summary.RunLow!.Value, summary.RunHigh!.Value));
        Assert.Equal(new[] { (desy, 1L), (kek, 4L) }.OrderBy(s => s.Item1, StringComparer.Ordinal), summary.PerStorageElement.Select(s => (s.Se, s.Files)).OrderBy(s => s.Se, StringComparer.Ordinal));
        Assert.Equal("release-08-01-00", (string)summary.Metadata!["release"]!);
        Assert.Contains(await Fx.Client.ListDatasetsAsync(area), d => d.Path == lpn);
    }

    [Fact]
    public async Task Collections_are_created_whole_or_not_at_all_and_are_queried_like_a_directory()
    {
        var area = await DeclareDomainSchemaAsync(Area());
        var se = await Fx.NewStorageElementAsync();
        foreach (var (name, type) in new[] { ("a", "mixed"), ("b", "charged"), ("c", "uubar") })
        {
            await Fx.Client.CreateDatasetAsync(new DatasetRequest($"{area}/{name}", new JsonObject { ["mcEventType"] = type }));
            await Fx.Client.RegisterAsync(Enumerable.Range(0, 3).Select(i => File($"{name}{i}.root", se, new JsonObject { ["nEvents"] = i }, dataset: $"{area}/{name}")).ToList());
            await Fx.Client.CloseDatasetAsync($"{area}/{name}");
        }
        var collection = $"{area}/collection/skim-1";

        // A missing member fails the whole creation: nothing is left behind.
        var missing = await Assert.ThrowsAsync<CatalogNotFoundException>(() => Fx.Client.CreateCollectionAsync(
            new CollectionRequest(collection, [$"{area}/a", $"{area}/nope"], new JsonObject { ["description"] = "x" })));
        Assert.Equal("members[1]", missing.Field);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => Fx.Client.StatAsync(collection));
        await Assert.ThrowsAsync<CatalogValidationException>(() => Fx.Client.CreateCollectionAsync(new CollectionRequest(collection, [collection])));
        var badMeta = await Assert.ThrowsAsync<CatalogValidationException>(() => Fx.Client.CreateCollectionAsync(
            new CollectionRequest(collection, [$"{area}/a"], new JsonObject { ["luminosity"] = "lots" })));
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => Fx.Client.StatAsync(collection));

        var made = await Fx.Client.CreateCollectionAsync(new CollectionRequest(collection, [$"{area}/a", $"{area}/b"],
            new JsonObject { ["description"] = "mixed and charged", ["luminosity"] = 362.5 }));
        Assert.Equal([$"{area}/a", $"{area}/b"], made.Members);
        Assert.Equal(362.5, (double)made.Metadata!["luminosity"]!);
        await Assert.ThrowsAsync<CatalogConflictException>(() => Fx.Client.CreateCollectionAsync(new CollectionRequest(collection, [$"{area}/c"])));

        var files = await Fx.Client.ListCollectionFilesAsync(collection);
        Assert.Equal(6, files.Rows.Count);
        var queried = await Fx.Client.QueryAsync(new QueryRequest("nEvents >= 1 and mcEventType = 'charged'", collection));
        Assert.Equal([$"{area}/b/sub00/b1.root", $"{area}/b/sub00/b2.root"], queried.Rows.Select(r => r.Path).Order());

        // Collections of collections: the datasets of both, and nothing can contain itself.
        var outer = await Fx.Client.CreateCollectionAsync(new CollectionRequest($"{area}/collection/all", [collection, $"{area}/c"]));
        Assert.Equal(9, (await Fx.Client.FacetsAsync(new FacetRequest(null, outer.Path, ["mcEventType"]))).Total);

        // A member of a frozen collection cannot be removed from under it.
        var removal = await Fx.Client.RemoveAsync([$"{area}/a"], recursive: true);
        Assert.Equal(ErrorCode.Conflict, removal.Results[0].Error!.Code);
        Assert.Contains(await Fx.Client.ListCollectionsAsync(area), c => c.Path == collection);

        // Nor a directory above it: the refusal names the collection, and nothing of the subtree goes.
        await Fx.Client.CreateDatasetAsync(new DatasetRequest($"{area}/grp/d"));
        await Fx.Client.RegisterAsync([File("d0.root", se, new JsonObject { ["nEvents"] = 1 }, dataset: $"{area}/grp/d")]);
        await Fx.Client.CloseDatasetAsync($"{area}/grp/d");
        await Fx.Client.CreateCollectionAsync(new CollectionRequest($"{area}/collection/grp", [$"{area}/grp/d"]));
        var above = await Fx.Client.RemoveAsync([$"{area}/grp"], recursive: true);
        Assert.Equal(ErrorCode.Conflict, above.Results[0].Error!.Code);
        Assert.Contains($"{area}/collection/grp", above.Results[0].Error!.Message);
        Assert.Equal(1, (await Fx.Client.GetDatasetSummaryAsync($"{area}/grp/d")).Files);
        // With the collection inside the removed subtree, both go, in one piece.
        var whole = await Fx.Client.RemoveAsync([area], recursive: true);
        Assert.True(whole.Results[0].Error is null, whole.Results[0].Error?.Message);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => Fx.Client.StatAsync(area));
    }

    [Fact]
    public async Task Lineage_records_parents_and_walks_both_ways()
    {
        var area = await DeclareDomainSchemaAsync(Area());
        var se = await Fx.NewStorageElementAsync();
        await Fx.Client.RegisterAsync([File($"{area}/raw/p1.root", se), File($"{area}/raw/p2.root", se)]);
        var child = await Fx.Client.RegisterAsync([File($"{area}/mdst/c.root", se, parents: [$"{area}/raw/p1.root", $"{area}/raw/p2.root"])]);
        Assert.True(child.Results[0].Status == ItemStatus.Created, child.Results[0].Error?.Message);
        await Fx.Client.RegisterAsync([File($"{area}/udst/g.root", se, parents: [$"{area}/mdst/c.root"])]);

        var refused = await Fx.Client.RegisterAsync(
        [
            File($"{area}/mdst/orphan.root", se, parents: [$"{area}/raw/p1.root", $"{area}/raw/nope.root"]),
            File($"{area}/mdst/self.root", se, parents: [$"{area}/mdst/self.root"]),
        ]);
        Assert.Contains("nope.root' is not registered", refused.Results[0].Error!.Message);
        Assert.Contains("own parent", refused.Results[1].Error!.Message);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => Fx.Client.StatAsync($"{area}/mdst/orphan.root"));

        var ancestors = await Fx.Client.LineageAsync($"{area}/udst/g.root", LineageDirection.Ancestors, depth: 2);
        Assert.Equal([($"{area}/mdst/c.root", $"{area}/raw/p1.root", 2), ($"{area}/mdst/c.root", $"{area}/raw/p2.root", 2), ($"{area}/udst/g.root", $"{area}/mdst/c.root", 1)],
            ancestors.Edges.Select(e => (e.Child, e.Parent, e.Depth)).Order());
        Assert.Single((await Fx.Client.LineageAsync($"{area}/udst/g.root", LineageDirection.Ancestors, depth: 1)).Edges);
        var descendants = await Fx.Client.LineageAsync($"{area}/raw/p1.root", LineageDirection.Descendants, depth: 5);
        Assert.Equal([$"{area}/mdst/c.root", $"{area}/udst/g.root"], descendants.Edges.Select(e => e.Child).Order());
        Assert.Equal("depth", (await Assert.ThrowsAsync<CatalogValidationException>(() => Fx.Client.LineageAsync($"{area}/raw/p1.root", depth: 99))).Field);
    }
}
