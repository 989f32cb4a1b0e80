using Catalog.Client;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.StorageElements;

[Collection(CatalogCollection.Name)]
public class StorageElementTests(CatalogFixture fx)
{
    [Fact]
    public async Task Put_get_list_and_update()
    {
        var name = $"KEK-{Guid.NewGuid():N}"[..16];
        var created = await fx.Client.PutStorageElementAsync(name, new StorageElementSpec("KEK", "root", "root://kek.test//disk/"));
        Assert.Equal("root://kek.test//disk", created.BaseUrl);
        Assert.True(created.WriteEnabled);

        await fx.Client.PutStorageElementAsync(name, new StorageElementSpec("KEK", "root", "root://kek.test//disk", WriteEnabled: false, State: StorageElementState.Degraded));
        var read = await fx.Client.GetStorageElementAsync(name);
        Assert.False(read.WriteEnabled);
        Assert.Equal(StorageElementState.Degraded, read.State);
        Assert.Contains(await fx.Client.ListStorageElementsAsync(), s => s.Name == name);
    }

    [Fact]
    public async Task Attributes_are_stored_kept_when_omitted_cleared_when_empty_and_checked()
    {
        var name = $"ATTR-{Guid.NewGuid():N}"[..16];
        var tier1 = new Dictionary<string, string> { ["tier"] = "1", ["region"] = "europe" };
        var created = await fx.Client.PutStorageElementAsync(name, new StorageElementSpec("DESY", "root", "root://desy.test//disk", Attributes: tier1));
        Assert.Equal(tier1, created.Attributes);
        // A PUT without attributes (e.g. a monitor closing writes) keeps them; an empty set clears them.
        Assert.Equal(tier1, (await fx.Client.PutStorageElementAsync(name, new StorageElementSpec("DESY", "root", "root://desy.test//disk", WriteEnabled: false))).Attributes);
        Assert.Empty((await fx.Client.PutStorageElementAsync(name, new StorageElementSpec("DESY", "root", "root://desy.test//disk", Attributes: new Dictionary<string, string>()))).Attributes!);

        foreach (var (key, value) in new[] { ("Tier", "1"), ("site", "x"), ("region", "a&b"), ("region", ""), ("region", "two words") })
        {
            var refused = await Assert.ThrowsAsync<CatalogValidationException>(() => fx.Client.PutStorageElementAsync(name,
                new StorageElementSpec("DESY", "root", "root://desy.test//disk", Attributes: new Dictionary<string, string> { [key] = value })));
            Assert.Equal($"attributes.{key}", refused.Field);
        }
        Assert.Empty((await fx.Client.GetStorageElementAsync(name)).Attributes!);
    }

    [Theory]
    [InlineData(null, "root", "root://x//y", "site")]
    [InlineData("KEK", "ftp", "ftp://x", "protocol")]
    [InlineData("KEK", "root", "davs://x", "baseUrl")]
    [InlineData("KEK", "root", null, "baseUrl")]
    [InlineData("KEK", "root", "root://user:secret@kek.jp//belle", "baseUrl")]
    [InlineData("KEK", "davs", "davs://kek.jp/be\u202Elle", "baseUrl")]
    [InlineData("KEK", "root", "root://kek.jp//bel le", "baseUrl")]
    [InlineData("K\u0000EK", "root", "root://kek.jp//belle", "site")]
    public async Task Invalid_specs_are_refused_naming_the_field(string? site, string? protocol, string? baseUrl, string field)
    {
        var name = $"BAD-{Guid.NewGuid():N}"[..16];
        var error = await Assert.ThrowsAsync<CatalogValidationException>(() =>
            fx.Client.PutStorageElementAsync(name, new StorageElementSpec(site, protocol, baseUrl)));
        Assert.Equal(400, error.Status);
        Assert.Equal(field, error.Field);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => fx.Client.GetStorageElementAsync(name));
    }

    [Fact]
    public async Task Delete_refuses_an_se_with_replicas_and_removes_an_empty_one()
    {
        var se = await fx.NewStorageElementAsync();
        var lfn = TestData.Dir("se-delete") + "/f.root";
        await fx.Client.RegisterAsync([TestData.File(lfn, se)]);
        var error = await Assert.ThrowsAsync<CatalogConflictException>(() => fx.Client.DeleteStorageElementAsync(se));
        Assert.Equal(ErrorCode.NotEmpty, error.Code);

        await fx.Client.RemoveReplicasAsync([new ReplicaRef(lfn, se)]);
        await fx.Client.DeleteStorageElementAsync(se);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => fx.Client.GetStorageElementAsync(se));
        // A name that is not there (mistyped, or deleted already) is said so, not answered as done.
        var absent = await Assert.ThrowsAsync<CatalogNotFoundException>(() => fx.Client.DeleteStorageElementAsync(se));
        Assert.Equal("name", absent.Field);
    }
}
