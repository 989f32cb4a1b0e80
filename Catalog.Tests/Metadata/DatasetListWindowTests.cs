using Catalog.Client;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Metadata;

/// <summary>Datasets listed with their length and creation time, within windows of both; lengths count only what the caller may see.</summary>
[Collection(CatalogCollection.Name)]
public class DatasetListWindowTests(CatalogFixture fx) : MetadataTestBase(fx)
{
    [Fact]
    public async Task Datasets_are_listed_by_length_and_creation_windows()
    {
        var area = await DeclareDomainSchemaAsync(Area());
        var se = await Fx.NewStorageElementAsync();
        var start = DateTimeOffset.UtcNow.AddMinutes(-1);
        foreach (var (name, files) in new[] { ("empty", 0), ("two", 2), ("five", 5) })
        {
            await Fx.Client.CreateDatasetAsync(new DatasetRequest($"{area}/{name}"));
            if (files > 0) await Fx.Client.RegisterAsync(Enumerable.Range(0, files).Select(i => File($"f{i}.root", se, dataset: $"{area}/{name}")).ToList());
        }

        var all = await Fx.Client.ListDatasetsAsync(area);
        Assert.Equal([($"{area}/empty", 0L), ($"{area}/five", 5L), ($"{area}/two", 2L)], all.Select(d => (d.Path, d.Files!.Value)));
        Assert.All(all, d => Assert.InRange(d.Created!.Value, start, DateTimeOffset.UtcNow.AddMinutes(1)));
        Assert.Equal([$"{area}/five", $"{area}/two"], (await Fx.Client.ListDatasetsAsync(area, 1, null, null, null)).Select(d => d.Path));
        Assert.Equal([$"{area}/two"], (await Fx.Client.ListDatasetsAsync(area, 1, 4, null, null)).Select(d => d.Path));
        Assert.Equal([$"{area}/empty"], (await Fx.Client.ListDatasetsAsync(area, null, 0, null, null)).Select(d => d.Path));
        Assert.Equal(3, (await Fx.Client.ListDatasetsAsync(area, null, null, start, DateTimeOffset.UtcNow.AddMinutes(5))).Count);
        Assert.Empty(await Fx.Client.ListDatasetsAsync(area, null, null, DateTimeOffset.UtcNow.AddMinutes(5), null));
        Assert.Empty(await Fx.Client.ListDatasetsAsync(area, null, null, null, start));

        // A reader counts only the files it may read.
        var path = $"{area}/five/sub00/f0.root";
        await Fx.Client.ChangeModeAsync(path, Convert.ToInt32("600", 8));
        var reader = Fx.ClientWith(await Fx.IssueTokenAsync("r-" + Guid.NewGuid().ToString("N")[..6], ["reader"], ["storage.read:/belle"]));
        Assert.Equal(4, (await reader.ListDatasetsAsync(area)).Single(d => d.Path == $"{area}/five").Files);
        Assert.Equal([$"{area}/two"], (await reader.ListDatasetsAsync(area, 1, 3, null, null)).Select(d => d.Path));

        Assert.Equal("minFiles", (await Assert.ThrowsAsync<CatalogValidationException>(() => Fx.Client.ListDatasetsAsync(area, -1, null, null, null))).Field);
        Assert.Equal("maxFiles", (await Assert.ThrowsAsync<CatalogValidationException>(() => Fx.Client.ListDatasetsAsync(area, 5, 2, null, null))).Field);
    }
}
