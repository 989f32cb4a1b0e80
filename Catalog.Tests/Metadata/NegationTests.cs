using System.Text.Json.Nodes;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Metadata;

/// <summary>
/// not, with the documented three-valued logic: a comparison on an entry without the attribute is
/// unknown, so neither it nor its negation matches that entry.
/// </summary>
[Collection(CatalogCollection.Name)]
public class NegationTests(CatalogFixture fx) : MetadataTestBase(fx)
{
    [Theory]
    [InlineData("not (nEvents = 1)", "three,two")]
    [InlineData("nEvents != 1", "three,two")]
    [InlineData("not (nEvents in (1, 2))", "three")]
    [InlineData("not (nEvents between 2 and 3)", "one")]
    [InlineData("not (site like 'K*')", "two")]
    [InlineData("not (nEvents = 1 or nEvents = 2)", "three")]
    [InlineData("not (nEvents = 1 and site = 'KEK')", "three,two")]
    [InlineData("not (not (nEvents = 1))", "one")]
    [InlineData("not (nEvents = 1) or site missing", "none,three,two")]
    [InlineData("not (site exists)", "none,three")]
    [InlineData("not (dataLevel = 'mdst')", "")]
    [InlineData("not (dataLevel = 'raw')", "none,one,three,two")]
    public async Task Negation_matches_like_the_documented_three_valued_logic(string query, string expected)
    {
        var area = await DeclareDomainSchemaAsync(Area());
        var se = await Fx.NewStorageElementAsync();
        await Fx.Client.SetMetadataAsync([new MetadataWrite(area, new JsonObject { ["dataLevel"] = "mdst" })]);
        var files = new[]
        {
            File($"{area}/one.root", se, new JsonObject { ["nEvents"] = 1, ["site"] = "KEK" }),
            File($"{area}/two.root", se, new JsonObject { ["nEvents"] = 2, ["site"] = "DESY" }),
            File($"{area}/three.root", se, new JsonObject { ["nEvents"] = 3 }),
            File($"{area}/none.root", se),
        };
        Assert.All((await Fx.Client.RegisterAsync(files)).Results, r => Assert.Equal(ItemStatus.Created, r.Status));

        var page = await Fx.Client.QueryAsync(new QueryRequest(query, area, Limit: 100));
        Assert.Equal(expected, string.Join(',', page.Rows.Select(r => r.Path[(r.Path.LastIndexOf('/') + 1)..].Replace(".root", "")).Order()));
    }
}

[Collection(CatalogCollection.Name)]
public class MissingScopeTests(CatalogFixture fx) : MetadataTestBase(fx)
{
    [Fact]
    public async Task A_query_under_a_missing_path_and_the_files_of_a_missing_collection_are_404()
    {
        var missing = Area() + "/nothing";
        var query = await Assert.ThrowsAsync<Catalog.Client.CatalogNotFoundException>(() => Fx.Client.QueryAsync(new QueryRequest("name = 'x'", missing)));
        Assert.Equal("under", query.Field);
        await Assert.ThrowsAsync<Catalog.Client.CatalogNotFoundException>(() => Fx.Client.FacetsAsync(new FacetRequest(null, missing, ["site"])));
        using var files = await Fx.Http.GetAsync($"api/v1/collections/files?path={Uri.EscapeDataString(missing)}");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, files.StatusCode);
    }
}

[Collection(CatalogCollection.Name)]
public class DatasetCompletenessTests(CatalogFixture fx) : MetadataTestBase(fx)
{
    [Fact]
    public async Task An_SE_counts_only_the_files_with_an_available_replica_there()
    {
        var se = await Fx.NewStorageElementAsync();
        var lpn = $"{TestData.Dir("complete")}/ds";
        await Fx.Client.CreateDatasetAsync(new DatasetRequest(lpn));
        var files = Enumerable.Range(0, 3).Select(i => new NewFile($"f{i}.root", 10, "0000000a", Replicas: [new NewReplica(se)], Dataset: lpn)).ToList();
        var stored = await Fx.Client.RegisterAsync(files);
        Assert.Equal(3, (await Fx.Client.GetDatasetSummaryAsync(lpn)).PerStorageElement.Single(s => s.Se == se).Files);

        await Fx.Client.SetReplicaStateAsync([new ReplicaRef(stored.Results[0].Lfn, se, State: ReplicaState.Unavailable),
            new ReplicaRef(stored.Results[1].Lfn, se, State: ReplicaState.Bad)]);
        var summary = await Fx.Client.GetDatasetSummaryAsync(lpn);
        Assert.Equal(3, summary.Files);
        Assert.Equal(1, summary.PerStorageElement.Single(s => s.Se == se).Files);
    }
}

[Collection(CatalogCollection.Name)]
public class DatasetCreationTests(CatalogFixture fx) : MetadataTestBase(fx)
{
    [Fact]
    public async Task Creating_a_dataset_again_changes_nothing_and_a_refused_creation_stores_nothing()
    {
        var area = await DeclareDomainSchemaAsync(Area());
        var lpn = $"{area}/mc/ds";
        await Fx.Client.CreateDatasetAsync(new DatasetRequest(lpn, new JsonObject { ["mcEventType"] = "mixed" }, 100));

        // The same request again: fine, nothing changes.
        var again = await Fx.Client.CreateDatasetAsync(new DatasetRequest(lpn, new JsonObject { ["mcEventType"] = "mixed" }, 100));
        Assert.Equal(100, again.MaxFilesPerBlock);

        var otherValue = await Assert.ThrowsAsync<Catalog.Client.CatalogConflictException>(() =>
            Fx.Client.CreateDatasetAsync(new DatasetRequest(lpn, Metadata: new JsonObject { ["mcEventType"] = "charged" })));
        Assert.Equal("metadata.mcEventType", otherValue.Field);
        var otherSize = await Assert.ThrowsAsync<Catalog.Client.CatalogConflictException>(() => Fx.Client.CreateDatasetAsync(new DatasetRequest(lpn, MaxFilesPerBlock: 5)));
        Assert.Equal("maxFilesPerBlock", otherSize.Field);
        var info = (await Fx.Client.ListDatasetsAsync(area)).Single();
        Assert.Equal(100, info.MaxFilesPerBlock);
        Assert.Equal("mixed", (string)info.Metadata!["mcEventType"]!);

        // An invalid attribute: refused, and neither the dataset nor its parents exist afterwards.
        var refused = await Assert.ThrowsAsync<Catalog.Client.CatalogValidationException>(() =>
            Fx.Client.CreateDatasetAsync(new DatasetRequest($"{area}/new/parents/ds", Metadata: new JsonObject { ["noSuchAttribute"] = 1 })));
        Assert.StartsWith("metadata", refused.Field);
        await Assert.ThrowsAsync<Catalog.Client.CatalogNotFoundException>(() => Fx.Client.StatAsync($"{area}/new"));
    }
}

[Collection(CatalogCollection.Name)]
public class FacetOrderTests(CatalogFixture fx) : MetadataTestBase(fx)
{
    [Fact]
    public async Task Facet_values_come_most_frequent_first_and_ties_in_the_attributes_own_order()
    {
        var area = await DeclareDomainSchemaAsync(Area());
        var se = await Fx.NewStorageElementAsync();
        var events = new[] { 10, 11, 7, 8, 9, 100, 9 };
        await Fx.Client.RegisterAsync(events.Select((n, i) => File($"{area}/f{i}.root", se, new JsonObject { ["nEvents"] = n })).ToList());
        var facets = await Fx.Client.FacetsAsync(new FacetRequest(null, area, ["nEvents"]));
        Assert.Equal(["9", "7", "8", "10", "11", "100"], facets.Facets.Single().Values.Select(v => v.Value!.ToJsonString()));
    }
}
