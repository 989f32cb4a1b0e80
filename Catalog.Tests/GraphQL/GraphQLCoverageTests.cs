using System.Text.Json;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.GraphQL;

/// <summary>
/// GraphQL covers what REST covers: datasets (with their summaries), collections (with their files),
/// lineage, attribute schemas and metadata reads and writes, through the same services; each answer
/// is checked against what REST then reads back.
/// </summary>
[Collection(CatalogCollection.Name)]
public class GraphQLCoverageTests(CatalogFixture fx)
{
    private static JsonElement Data(JsonDocument answer)
    {
        Assert.False(answer.RootElement.TryGetProperty("errors", out var errors), errors.ToString());
        return answer.RootElement.GetProperty("data");
    }

    [Fact]
    public async Task Datasets_collections_and_lineage()
    {
        var se = await fx.NewStorageElementAsync();
        var root = TestData.Dir("gql-ds");
        var dataset = $"{root}/mdst";

        using var created = await fx.Client.GraphQLAsync("""
            mutation($path: String!) { createDataset(path: $path, metadata: "{\"campaign\": \"MC15ri\"}", maxFilesPerBlock: 2) { path maxFilesPerBlock currentBlock metadata } }
            """, new { path = dataset });
        var ds = Data(created).GetProperty("createDataset");
        Assert.Equal(2, ds.GetProperty("maxFilesPerBlock").GetInt32());
        Assert.Equal("MC15ri", JsonDocument.Parse(ds.GetProperty("metadata").GetString()!).RootElement.GetProperty("campaign").GetString());
        Assert.Equal(2, (await fx.Client.ListDatasetsAsync(root)).Single().MaxFilesPerBlock);

        // Three files into the dataset (two datablocks), the third made from the first two.
        using var registered = await fx.Client.GraphQLAsync("""
            mutation($files: [NewFileInput!]!) { registerFiles(files: $files) { created failed } }
            """, new
        {
            files = new object[]
            {
                new { lfn = "a.root", dataset, size = 10, adler32 = "0000000a", replicas = new[] { new { se } } },
                new { lfn = "b.root", dataset, size = 20, adler32 = "0000000b", replicas = new[] { new { se } } },
            },
        });
        Assert.Equal(2, Data(registered).GetProperty("registerFiles").GetProperty("created").GetInt32());
        var a = $"{dataset}/sub00/a.root";
        var b = $"{dataset}/sub00/b.root";
        using var child = await fx.Client.GraphQLAsync("""
            mutation($files: [NewFileInput!]!) { registerFiles(files: $files) { created failed } }
            """, new { files = new[] { new { lfn = "c.root", dataset, size = 30, adler32 = "0000000c", replicas = new[] { new { se } }, parents = new[] { a, b } } } });
        Assert.Equal(1, Data(child).GetProperty("registerFiles").GetProperty("created").GetInt32());

        using var read = await fx.Client.GraphQLAsync("""
            query($path: String!, $under: String!) {
              dataset(path: $path) { path currentBlock summary { files bytes datablocks perStorageElement { se files } } }
              datasets(under: $under) { path }
            }
            """, new { path = dataset, under = root });
        var data = Data(read);
        var summary = data.GetProperty("dataset").GetProperty("summary");
        var rest = await fx.Client.GetDatasetSummaryAsync(dataset);
        Assert.Equal(3, summary.GetProperty("files").GetInt64());
        Assert.Equal(rest.Bytes, summary.GetProperty("bytes").GetInt64());
        Assert.Equal(rest.Datablocks, summary.GetProperty("datablocks").GetInt32());
        Assert.Equal(3, summary.GetProperty("perStorageElement").EnumerateArray().Single(p => p.GetProperty("se").GetString() == se).GetProperty("files").GetInt64());
        Assert.Equal([dataset], data.GetProperty("datasets").EnumerateArray().Select(d => d.GetProperty("path").GetString()));

        // A collection of the dataset, and its files one page at a time.
        var collection = $"{root}/analysis";
        using var made = await fx.Client.GraphQLAsync("""
            mutation($path: String!, $members: [String!]!, $ds: String!) {
              closeDataset(path: $ds) { state }
              createCollection(path: $path, members: $members) { path members }
            }
            """, new { path = collection, members = new[] { dataset }, ds = dataset });
        Assert.Equal([dataset], Data(made).GetProperty("createCollection").GetProperty("members").EnumerateArray().Select(m => m.GetString()));
        using var files = await fx.Client.GraphQLAsync("""
            query($path: String!, $under: String!) {
              collection(path: $path) { path files(first: 2) { rows { path } next } }
              collections(under: $under) { path }
            }
            """, new { path = collection, under = root });
        var page = Data(files).GetProperty("collection").GetProperty("files");
        Assert.Equal([a, b], page.GetProperty("rows").EnumerateArray().Select(r => r.GetProperty("path").GetString()));
        Assert.NotEqual(JsonValueKind.Null, page.GetProperty("next").ValueKind);
        Assert.Equal([collection], Data(files).GetProperty("collections").EnumerateArray().Select(c => c.GetProperty("path").GetString()));

        // Lineage both ways.
        var c = $"{dataset}/sub01/c.root";
        using var lineage = await fx.Client.GraphQLAsync("""
            query($c: String!, $a: String!) {
              up: lineage(lfn: $c) { direction edges { child parent depth } }
              down: lineage(lfn: $a, direction: DESCENDANTS) { direction edges { child parent } }
            }
            """, new { c, a });
        var up = Data(lineage).GetProperty("up");
        Assert.Equal("ANCESTORS", up.GetProperty("direction").GetString());
        Assert.Equal([a, b], up.GetProperty("edges").EnumerateArray().Select(e => e.GetProperty("parent").GetString()).Order());
        Assert.Equal(c, Data(lineage).GetProperty("down").GetProperty("edges")[0].GetProperty("child").GetString());

        // A missing dataset is an error for that field only.
        using var partial = await fx.Client.GraphQLAsync("""
            query($path: String!, $missing: String!) { here: dataset(path: $path) { path } gone: dataset(path: $missing) { path } }
            """, new { path = dataset, missing = $"{root}/nope" });
        Assert.Equal(dataset, partial.RootElement.GetProperty("data").GetProperty("here").GetProperty("path").GetString());
        Assert.Equal(JsonValueKind.Null, partial.RootElement.GetProperty("data").GetProperty("gone").ValueKind);
        Assert.Equal("NOT_FOUND", partial.RootElement.GetProperty("errors")[0].GetProperty("extensions").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Attribute_schemas_and_metadata_values()
    {
        var dir = TestData.Dir("gql-meta");
        await fx.Client.MakeDirectoryAsync(dir, parents: true);

        using var declared = await fx.Client.GraphQLAsync("""
            mutation($path: String!) {
              strict: setMetadataPolicy(path: $path, permissive: false) { permissive }
              declareAttribute(attribute: { path: $path, name: "beam", type: STRING, target: DIRECTORIES, allowed: "[\"4S\", \"5S\"]", indexed: true }) {
                attributes { name type target definedAt allowed indexed }
              }
            }
            """, new { path = dir });
        var data = Data(declared);
        Assert.False(data.GetProperty("strict").GetProperty("permissive").GetBoolean());
        var beam = data.GetProperty("declareAttribute").GetProperty("attributes").EnumerateArray().Single(x => x.GetProperty("name").GetString() == "beam");
        Assert.Equal("STRING", beam.GetProperty("type").GetString());
        Assert.Equal("DIRECTORIES", beam.GetProperty("target").GetString());
        Assert.Equal(dir, beam.GetProperty("definedAt").GetString());
        Assert.Equal(["4S", "5S"], JsonDocument.Parse(beam.GetProperty("allowed").GetString()!).RootElement.EnumerateArray().Select(v => v.GetString()));
        Assert.Contains((await fx.Client.GetSchemaAsync(dir)).Attributes, x => x.Name == "beam" && x.Indexed);

        // Values: one item stored, one refused by the schema, per item; the refused one changes nothing.
        var sub = $"{dir}/sub";
        await fx.Client.MakeDirectoryAsync(sub);
        using var written = await fx.Client.GraphQLAsync("""
            mutation($items: [MetadataWriteInput!]!) { writeMetadata(items: $items) { index ok own error { code field } } }
            """, new { items = new[] { new { path = dir, values = "{\"beam\": \"4S\"}" }, new { path = sub, values = "{\"beam\": \"9S\"}" } } });
        var results = Data(written).GetProperty("writeMetadata");
        Assert.True(results[0].GetProperty("ok").GetBoolean());
        Assert.False(results[1].GetProperty("ok").GetBoolean());
        Assert.Equal("INVALID_ARGUMENT", results[1].GetProperty("error").GetProperty("code").GetString());

        using var read = await fx.Client.GraphQLAsync("""
            query($paths: [String!]!, $dir: String!) { metadata(paths: $paths) { path ok own effective error { code } } schema(path: $dir) { permissive attributes { name } } }
            """, new { paths = new[] { sub, $"{dir}/missing" }, dir });
        var values = Data(read).GetProperty("metadata");
        Assert.Equal("4S", JsonDocument.Parse(values[0].GetProperty("effective").GetString()!).RootElement.GetProperty("beam").GetString());
        Assert.Equal("{}", values[0].GetProperty("own").GetString());
        Assert.Equal("NOT_FOUND", values[1].GetProperty("error").GetProperty("code").GetString());

        // Malformed JSON text is refused with the field named, and stores nothing.
        using var bad = await fx.Client.GraphQLAsync("""
            mutation($path: String!) { createDataset(path: $path, metadata: "{not json") { path } }
            """, new { path = $"{dir}/ds" });
        var error = bad.RootElement.GetProperty("errors")[0];
        Assert.Equal("INVALID_ARGUMENT", error.GetProperty("extensions").GetProperty("code").GetString());
        Assert.StartsWith("metadata:", error.GetProperty("message").GetString());
        await Assert.ThrowsAsync<Catalog.Client.CatalogNotFoundException>(() => fx.Client.StatAsync($"{dir}/ds"));

        // The value is removed again, then the declaration.
        using var cleared = await fx.Client.GraphQLAsync("""
            mutation($path: String!) { writeMetadata(items: [{ path: $path, values: "{\"beam\": null}" }]) { ok } }
            """, new { path = dir });
        Assert.True(Data(cleared).GetProperty("writeMetadata")[0].GetProperty("ok").GetBoolean());
        using var removed = await fx.Client.GraphQLAsync("""
            mutation($path: String!) { removeAttribute(path: $path, name: "beam") { attributes { name } } }
            """, new { path = dir });
        Assert.DoesNotContain(Data(removed).GetProperty("removeAttribute").GetProperty("attributes").EnumerateArray(), x => x.GetProperty("name").GetString() == "beam");
    }
}
