using System.Net;
using System.Text;
using System.Text.Json;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Files;

/// <summary>
/// One wrongly typed item fails alone, with its field named, and the rest of the batch is stored;
/// an unknown field is refused by name instead of ignored; a GraphQL document asking for several
/// entries answers the ones that exist.
/// </summary>
[Collection(CatalogCollection.Name)]
public class PerItemTypingTests(CatalogFixture fx)
{
    private async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(string uri, string json)
    {
        using var response = await fx.Http.PostAsync(uri, new StringContent(json, Encoding.UTF8, "application/json"));
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    [Fact]
    public async Task A_wrongly_typed_item_fails_alone_with_its_field_named_and_the_rest_is_stored()
    {
        var dir = TestData.Dir("typing");
        var se = await fx.NewStorageElementAsync();
        var (status, body) = await PostAsync("api/v1/files", $$"""
            {"files": [
              {"lfn": "{{dir}}/ok1.root", "size": 1, "adler32": "0000000a", "replicas": [{"se": "{{se}}"}]},
              {"lfn": "{{dir}}/size.root", "size": "x", "adler32": "0000000a"},
              5,
              {"lfn": "{{dir}}/guid.root", "size": 1, "adler32": "0000000a", "guid": "nope"},
              {"lfn": "{{dir}}/adler.root", "size": 1, "adler32": 10},
              {"lfn": "{{dir}}/typo.root", "size": 1, "adler32": "0000000a", "replica": [{"se": "{{se}}"}]},
              {"lfn": "{{dir}}/ok2.root", "size": 1, "adler32": "0000000a"}
            ]}
            """);
        Assert.Equal(HttpStatusCode.OK, status);
        var results = body.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal("created", results[0].GetProperty("status").GetString());
        Assert.Equal("created", results[6].GetProperty("status").GetString());
        var expected = new (int Index, string Field, string Says)[]
        {
            (1, "files[1].size", "expected a number"), (2, "files[2]", "must be an object"), (3, "files[3].guid", "expected a UUID"),
            (4, "files[4].adler32", "expected a string"), (5, "files[5].replica", "unknown field 'replica'"),
        };
        foreach (var (index, field, says) in expected)
        {
            var error = results[index].GetProperty("error");
            Assert.Equal("failed", results[index].GetProperty("status").GetString());
            Assert.Equal(field, error.GetProperty("field").GetString());
            Assert.True(error.GetProperty("message").GetString()!.Contains(says), error.ToString());
            Assert.DoesNotContain("System.", error.GetProperty("message").GetString());
            Assert.DoesNotContain("Catalog.Contracts", error.GetProperty("message").GetString());
        }
        Assert.Equal(["ok1.root", "ok2.root"], (await fx.Client.ListPageAsync(dir)).Entries.Select(e => e.Name).Order());

        // An empty batch is a valid, empty answer; a body without files is refused naming the field.
        (status, body) = await PostAsync("api/v1/files", """{"files": []}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(0, body.GetProperty("results").GetArrayLength());
        (status, body) = await PostAsync("api/v1/files", """{"file": []}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("file", body.GetProperty("field").GetString());
    }

    [Fact]
    public async Task An_unknown_field_is_refused_by_name_on_every_JSON_door()
    {
        var dir = TestData.Dir("unknown-field");
        var (status, body) = await PostAsync("api/v1/directories", $$"""{"path": "{{dir}}", "parent": true}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("parent", body.GetProperty("field").GetString());
        Assert.Contains("unknown field 'parent'", body.GetProperty("detail").GetString());
        await Assert.ThrowsAsync<Catalog.Client.CatalogNotFoundException>(() => fx.Client.StatAsync(dir)); // nothing made

        (status, body) = await PostAsync("api/v1/query", """{"query": "size >= 0", "under": "/belle", "limt": 5}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("limt", body.GetProperty("field").GetString());

        (status, body) = await PostAsync("api/v1/query", """{"query": "size >= 0", "under": "/belle", "limit": "x"}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("limit", body.GetProperty("field").GetString());
        Assert.True(body.GetProperty("detail").GetString()!.Contains("expected a number"), body.ToString());
    }

    [Fact]
    public async Task A_GraphQL_document_asking_for_several_entries_answers_those_that_exist()
    {
        var dir = TestData.Dir("partial");
        await fx.Client.MakeDirectoryAsync(dir, parents: true);
        using var answer = await fx.Client.GraphQLAsync($$"""{ a: stat(path: "{{dir}}") { name } b: stat(path: "{{dir}}/nothing") { name } }""");
        var data = answer.RootElement.GetProperty("data");
        Assert.Equal(dir[(dir.LastIndexOf('/') + 1)..], data.GetProperty("a").GetProperty("name").GetString());
        Assert.Equal(JsonValueKind.Null, data.GetProperty("b").ValueKind);
        var error = answer.RootElement.GetProperty("errors").EnumerateArray().Single();
        Assert.Equal("b", error.GetProperty("path")[0].GetString());
        Assert.Equal("NOT_FOUND", error.GetProperty("extensions").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Lineage_directions_are_spelled_as_documented()
    {
        var dir = TestData.Dir("lineage-words");
        var se = await fx.NewStorageElementAsync();
        await fx.Client.RegisterAsync([TestData.File($"{dir}/p.root", se)]);
        foreach (var direction in new[] { "ancestors", "descendants" })
        {
            using var response = await fx.Http.GetAsync($"api/v1/lineage?lfn={Uri.EscapeDataString($"{dir}/p.root")}&direction={direction}");
            Assert.True(response.IsSuccessStatusCode, $"{direction}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
        using var wrong = await fx.Http.GetAsync($"api/v1/lineage?lfn={Uri.EscapeDataString($"{dir}/p.root")}&direction=sideways");
        Assert.Equal(HttpStatusCode.BadRequest, wrong.StatusCode);
    }
}
