using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.StorageElements;

/// <summary>SE expressions in the catalog (the SE list, one file's replicas, bulk lookups) and an SE rename that keeps every replica.</summary>
[Collection(CatalogCollection.Name)]
public class SeExpressionAndRenameTests(CatalogFixture fx)
{
    private async Task<(string Tag, string T1, string T2)> TwoTiersAsync()
    {
        var tag = "x" + Guid.NewGuid().ToString("N")[..8];
        var (t1, t2) = ($"T1-{tag}", $"T2-{tag}");
        await fx.Client.PutStorageElementAsync(t1, new StorageElementSpec("S1", "root", $"root://{tag}1.test//d", Attributes: new Dictionary<string, string> { ["tier"] = "1", ["exprtest"] = tag }));
        await fx.Client.PutStorageElementAsync(t2, new StorageElementSpec("S2", "root", $"root://{tag}2.test//d", Attributes: new Dictionary<string, string> { ["tier"] = "2", ["exprtest"] = tag }));
        return (tag, t1, t2);
    }

    [Fact]
    public async Task The_SE_list_replicas_and_lookups_take_an_SE_expression()
    {
        var (tag, t1, t2) = await TwoTiersAsync();
        Assert.Equal([t1], (await fx.Client.ListStorageElementsAsync($"exprtest={tag}&tier<2")).Select(s => s.Name));
        Assert.Equal([t1, t2], (await fx.Client.ListStorageElementsAsync($"exprtest={tag}")).Select(s => s.Name).Order());

        var lfn = $"{TestData.Dir("se-expr")}/f.root";
        await fx.Client.RegisterAsync([TestData.File(lfn, t1) with { Replicas = [new NewReplica(t1), new NewReplica(t2)] }]);
        var one = await fx.Http.GetFromJsonAsync<List<Replica>>($"api/v1/replicas?lfn={lfn}&se={Uri.EscapeDataString($"tier=2&exprtest={tag}")}", CatalogJson.Options);
        Assert.Equal([t2], one!.Select(r => r.Se));
        using var lookup = await fx.Http.PostAsJsonAsync("api/v1/replicas/lookup", new LookupRequest([lfn], Se: t1), CatalogJson.Options);
        var results = await lookup.Content.ReadFromJsonAsync<List<LookupResult>>(CatalogJson.Options);
        Assert.Equal([t1], results!.Single().Replicas!.Select(r => r.Se));
        using var graph = await fx.Client.GraphQLAsync("query($lfns: [String!]!, $se: String) { lookup(lfns: $lfns, se: $se) { replicas { se } } storageElements(expression: $se) { name attributes } }",
            new { lfns = new[] { lfn }, se = $"tier=1&exprtest={tag}" });
        var data = graph.RootElement.GetProperty("data");
        Assert.Equal(t1, data.GetProperty("lookup")[0].GetProperty("replicas")[0].GetProperty("se").GetString());
        Assert.Contains("\"tier\":\"1\"", data.GetProperty("storageElements")[0].GetProperty("attributes").GetString());

        // A bad expression is a 400 naming the field, before anything is read.
        var bad = await Assert.ThrowsAsync<CatalogValidationException>(() => fx.Client.ListStorageElementsAsync("tier=1&nosuchkey=2"));
        Assert.Equal("expression", bad.Field);
        Assert.Contains("no SE has the attribute 'nosuchkey'", bad.Message);
        using var badLookup = await fx.Http.PostAsJsonAsync("api/v1/replicas/lookup", new LookupRequest([lfn], Se: "(tier=1"), CatalogJson.Options);
        Assert.Equal(HttpStatusCode.BadRequest, badLookup.StatusCode);
        Assert.Equal("se", JsonDocument.Parse(await badLookup.Content.ReadAsStringAsync()).RootElement.GetProperty("field").GetString());
    }

    [Fact]
    public async Task A_renamed_SE_keeps_every_replica_and_its_PFNs()
    {
        var (tag, t1, _) = await TwoTiersAsync();
        var dir = TestData.Dir("se-rename");
        await fx.Client.RegisterAsync([TestData.File($"{dir}/a.root", t1), TestData.File($"{dir}/b.root", t1)]);
        var before = (await fx.Client.GetFileAsync($"{dir}/a.root")).Replicas.Single(); // cached now

        var renamed = await fx.Client.RenameStorageElementAsync(t1, $"NEW-{tag}");
        Assert.Equal((2L, $"NEW-{tag}"), (renamed.Files, renamed.Name));
        var after = (await fx.Client.GetFileAsync($"{dir}/a.root")).Replicas.Single();
        Assert.Equal(($"NEW-{tag}", before.Pfn, before.State), (after.Se, after.Pfn, after.State));
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => fx.Client.GetStorageElementAsync(t1));
        Assert.Equal([$"NEW-{tag}"], (await fx.Client.ListStorageElementsAsync($"exprtest={tag}&tier=1")).Select(s => s.Name)); // attributes kept

        // Refused, and nothing changes: a taken name, a missing SE, a bad name, a reader.
        await Assert.ThrowsAsync<CatalogConflictException>(() => fx.Client.RenameStorageElementAsync($"NEW-{tag}", $"T2-{tag}"));
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => fx.Client.RenameStorageElementAsync(t1, "X"));
        Assert.Equal("to", (await Assert.ThrowsAsync<CatalogValidationException>(() => fx.Client.RenameStorageElementAsync($"NEW-{tag}", "a b"))).Field);
        var reader = fx.ClientWith(await fx.IssueTokenAsync("r-" + Guid.NewGuid().ToString("N")[..6], ["reader"], ["storage.read:/"]));
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => reader.RenameStorageElementAsync($"NEW-{tag}", $"Z-{tag}"));
        Assert.Equal(2, (await fx.Client.GetStorageElementAsync($"NEW-{tag}")).Files);
    }
}
