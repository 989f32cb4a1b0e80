using Catalog.Client;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Namespace;

[Collection(CatalogCollection.Name)]
public class NamespaceTests(CatalogFixture fx)
{
    [Fact]
    public async Task A_mode_sent_as_a_string_is_octal_and_one_that_is_not_octal_is_refused_naming_the_field()
    {
        var dir = TestData.Dir("octal");
        async Task<System.Text.Json.Nodes.JsonNode> PostAsync(string route, string body, System.Net.HttpStatusCode expected)
        {
            using var answer = await fx.Http.PostAsync(route, new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            var text = await answer.Content.ReadAsStringAsync();
            Assert.True(answer.StatusCode == expected, text);
            return System.Text.Json.Nodes.JsonNode.Parse(text)!;
        }
        Assert.Equal(Convert.ToInt32("700", 8), (int)(await PostAsync("api/v1/directories", $$"""{"path": "{{dir}}", "parents": true, "mode": "700"}""", System.Net.HttpStatusCode.OK))["mode"]!);
        Assert.Equal(Convert.ToInt32("640", 8), (int)(await PostAsync("api/v1/namespace/chmod", $$"""{"path": "{{dir}}", "mode": "0640"}""", System.Net.HttpStatusCode.OK))["mode"]!);
        Assert.Equal(Convert.ToInt32("400", 8), (int)(await PostAsync("api/v1/namespace/chmod", $$"""{"path": "{{dir}}", "mode": "0o400"}""", System.Net.HttpStatusCode.OK))["mode"]!);
        Assert.Equal(420, (int)(await PostAsync("api/v1/namespace/chmod", $$"""{"path": "{{dir}}", "mode": 420}""", System.Net.HttpStatusCode.OK))["mode"]!); // a number is a number
        var refused = await PostAsync("api/v1/namespace/chmod", $$"""{"path": "{{dir}}", "mode": "0789"}""", System.Net.HttpStatusCode.BadRequest);
        Assert.Equal("mode", (string)refused["field"]!);
        Assert.Contains("not an octal mode", (string)refused["detail"]!);
        Assert.Equal(420, (await fx.Client.StatAsync(dir)).Mode);
    }

    [Fact]
    public async Task Mkdir_with_parents_is_idempotent_and_without_needs_the_parent()
    {
        var dir = TestData.Dir("mkdir");
        var made = await fx.Client.MakeDirectoryAsync(dir + "/a/b/c", parents: true, mode: 0x1E8);
        Assert.Equal(EntryType.Directory, made.Type);
        Assert.Equal(0x1E8, made.Mode);
        Assert.Equal("test-admin", made.Owner); // the caller owns what it creates
        Assert.Equal("root", made.Group);       // and the group is inherited from the parent (here the root)
        Assert.Equal(made.Created, (await fx.Client.MakeDirectoryAsync(dir + "/a/b/c")).Created);

        var error = await Assert.ThrowsAsync<CatalogNotFoundException>(() => fx.Client.MakeDirectoryAsync(dir + "/x/y"));
        Assert.Equal("path", error.Field);
        await Assert.ThrowsAsync<CatalogValidationException>(() => fx.Client.MakeDirectoryAsync("/elsewhere/x", parents: true));
    }

    [Fact]
    public async Task A_name_is_either_a_file_or_a_directory()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("clash");
        await fx.Client.RegisterAsync([TestData.File(dir + "/f.root", se)]);
        await Assert.ThrowsAsync<CatalogConflictException>(() => fx.Client.MakeDirectoryAsync(dir + "/f.root/sub", parents: true));
        await fx.Client.MakeDirectoryAsync(dir + "/d");
        var response = await fx.Client.RegisterAsync([TestData.File(dir + "/d", se), TestData.File(dir + "/f.root/x.root", se)]);
        Assert.All(response.Results, r => Assert.Equal(ErrorCode.Conflict, r.Error!.Code));
    }

    [Fact]
    public async Task Listing_merges_directories_and_files_sorted_and_pages_by_cursor()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("list");
        await fx.Client.RegisterAsync(Enumerable.Range(0, 2500).Select(i => TestData.File($"{dir}/f{i:00000}.root", se)).ToList());
        await fx.Client.MakeDirectoryAsync(dir + "/f01000.dir");
        await fx.Client.MakeDirectoryAsync(dir + "/a-dir");

        var first = await fx.Client.ListPageAsync(dir, limit: 1000);
        Assert.Equal(1000, first.Entries.Count);
        Assert.Equal("a-dir", first.Entries[0].Name);
        Assert.NotNull(first.Next);

        var all = new List<Entry>();
        await foreach (var e in fx.Client.ListAsync(dir, pageSize: 700)) all.Add(e);
        Assert.Equal(2502, all.Count);
        Assert.Equal(all.Select(e => e.Name).Order(StringComparer.Ordinal), all.Select(e => e.Name));
        Assert.Equal(EntryType.Directory, all.Single(e => e.Name == "f01000.dir").Type);
        Assert.Equal(1234, all.First(e => e.Type == EntryType.File).Size);

        await Assert.ThrowsAsync<CatalogValidationException>(() => fx.Client.ListPageAsync(dir, after: "%%%"));
        var tooBig = await Assert.ThrowsAsync<CatalogValidationException>(() => fx.Client.ListPageAsync(dir, limit: 1_000_000));
        Assert.Equal("limit", tooBig.Field);
    }

    [Fact]
    public async Task Stat_answers_files_and_directories()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("stat");
        var registered = await fx.Client.RegisterAsync([TestData.File(dir + "/f.root", se)]);
        var file = await fx.Client.StatAsync(dir + "/f.root");
        Assert.Equal(EntryType.File, file.Type);
        Assert.Equal(registered.Results[0].Guid, file.Guid);
        Assert.Equal(0x1A4, file.Mode);
        Assert.Equal(EntryType.Directory, (await fx.Client.StatAsync(dir)).Type);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => fx.Client.StatAsync(dir + "/none"));
    }

    [Fact]
    public async Task Moving_a_file_keeps_its_physical_name()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("mv-file");
        await fx.Client.RegisterAsync([TestData.File(dir + "/old.root", se)]);
        var pfn = (await fx.Client.GetFileAsync(dir + "/old.root")).Replicas[0].Pfn;
        await fx.Client.MakeDirectoryAsync(dir + "/other");

        await fx.Client.MoveAsync(dir + "/old.root", dir + "/other/new.root");
        var moved = await fx.Client.GetFileAsync(dir + "/other/new.root");
        Assert.Equal(pfn, moved.Replicas[0].Pfn);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => fx.Client.StatAsync(dir + "/old.root"));
        Assert.Equal(1, (await fx.Client.UsageAsync(dir + "/other")).Files);
    }

    [Fact]
    public async Task Moving_a_subtree_moves_everything_below_it()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("mv-tree");
        await fx.Client.RegisterAsync(Enumerable.Range(0, 30).Select(i => TestData.File($"{dir}/src/s{i % 3}/f{i}.root", se)).ToList());
        await fx.Client.MoveAsync(dir + "/src", dir + "/dst");

        await Assert.ThrowsAsync<CatalogNotFoundException>(() => fx.Client.StatAsync(dir + "/src"));
        var file = await fx.Client.GetFileAsync(dir + "/dst/s1/f1.root");
        Assert.Contains("/src/s1/f1.root", file.Replicas[0].Pfn);
        var usage = await fx.Client.UsageAsync(dir + "/dst");
        Assert.Equal(30, usage.Files);
        Assert.Equal(3, usage.Directories);
        Assert.Equal(30, usage.PerStorageElement.Single().Files);

        var intoItself = await Assert.ThrowsAsync<CatalogValidationException>(() => fx.Client.MoveAsync(dir + "/dst", dir + "/dst/s1/x"));
        Assert.Equal("to", intoItself.Field);
        await Assert.ThrowsAsync<CatalogConflictException>(() => fx.Client.MoveAsync(dir + "/dst/s0", dir + "/dst/s1"));
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => fx.Client.MoveAsync(dir + "/nothing", dir + "/else"));
    }

    [Fact]
    public async Task Remove_files_empty_directories_and_subtrees_only_when_recursive()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("rm");
        await fx.Client.RegisterAsync(Enumerable.Range(0, 10).Select(i => TestData.File($"{dir}/full/d{i % 2}/f{i}.root", se)).ToList());
        await fx.Client.MakeDirectoryAsync(dir + "/empty");

        var response = await fx.Client.RemoveAsync([dir + "/full", dir + "/empty", dir + "/gone", dir + "/../x", "/belle"]);
        Assert.Equal([RemoveStatus.Failed, RemoveStatus.Removed, RemoveStatus.Absent, RemoveStatus.Failed, RemoveStatus.Failed],
            response.Results.Select(r => r.Status));
        Assert.Equal(ErrorCode.NotEmpty, response.Results[0].Error!.Code);
        Assert.Equal(ErrorCode.InvalidLfn, response.Results[3].Error!.Code);
        Assert.Equal(10, (await fx.Client.UsageAsync(dir + "/full")).Files);

        var recursive = await fx.Client.RemoveAsync([dir + "/full"], recursive: true);
        Assert.Equal(10, recursive.Results[0].FilesRemoved);
        Assert.Equal(3, recursive.Results[0].DirectoriesRemoved);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => fx.Client.StatAsync(dir + "/full/d0"));
        Assert.Equal(0, (await fx.Client.UsageAsync(dir)).Files);
        Assert.Equal(0, (await fx.Client.GetStorageElementAsync(se)).Files);
    }

    [Fact]
    public async Task Usage_stays_exact_through_adds_and_removes_beyond_32_bits()
    {
        var se1 = await fx.NewStorageElementAsync();
        var se2 = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("usage");
        const long big = 5_000_000_000;
        await fx.Client.RegisterAsync([
            new NewFile(dir + "/a/x.root", big, "00000001", Replicas: [new NewReplica(se1), new NewReplica(se2)]),
            new NewFile(dir + "/b/y.root", big, "00000002", Replicas: [new NewReplica(se1)]),
            new NewFile(dir + "/b/z.root", 7, "00000003"),
        ]);
        var usage = await fx.Client.UsageAsync(dir);
        Assert.Equal((3, 2 * big + 7), (usage.Files, usage.Bytes));
        Assert.Equal((2L, 2 * big), usage.PerStorageElement.Where(u => u.Se == se1).Select(u => (u.Files, u.Bytes)).Single());
        Assert.Equal((1L, big), (await fx.Client.GetStorageElementAsync(se2)) is var s ? (s.Files, s.Bytes) : default);

        await fx.Client.RemoveReplicasAsync([new ReplicaRef(dir + "/a/x.root", se1)]);
        await fx.Client.RemoveAsync([dir + "/b/z.root"]);
        usage = await fx.Client.UsageAsync(dir);
        Assert.Equal((2, 2 * big), (usage.Files, usage.Bytes));
        Assert.Equal(big, usage.PerStorageElement.Single(u => u.Se == se1).Bytes);
        Assert.Equal((1, big), (await fx.Client.UsageAsync(dir + "/b")) is var b ? (b.Files, b.Bytes) : default);
    }
}
