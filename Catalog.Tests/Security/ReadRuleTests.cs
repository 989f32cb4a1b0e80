using System.Text.Json;
using System.Text.Json.Nodes;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Storage;
using Catalog.Tests.Infrastructure;
using Catalog.Tests.Metadata;
using Npgsql;

namespace Catalog.Tests.Security;

/// <summary>
/// One rule at every read door: an entry is visible only if the caller may read it and search
/// every directory above it. A reader with a read scope over the whole area must learn nothing of
/// a file in another user's 0700 directory, nor of a 0600 file beside the files it may read; what
/// it may not see answers exactly like what does not exist.
/// </summary>
[Collection(CatalogCollection.Name)]
public class ReadRuleTests(CatalogFixture fx) : MetadataTestBase(fx)
{
    private sealed record World(string Area, string AliceDir, string AliceDataset, string OpenDataset, string Collection,
        string Secret, Guid SecretGuid, string Private, string Visible, string Child, string Se);

    private async Task<World> BuildAsync()
    {
        var admin = Fx.Client;
        var area = await DeclareDomainSchemaAsync(Area("readrule"));
        var se = await Fx.NewStorageElementAsync();
        var aliceDir = $"{area}/alice";
        var aliceDs = $"{aliceDir}/ds";
        var openDs = $"{area}/open/ds";
        var mc = new JsonObject { ["dataType"] = "mc" };
        await admin.CreateDatasetAsync(new DatasetRequest(aliceDs, mc.DeepClone().AsObject()));
        await admin.CreateDatasetAsync(new DatasetRequest(openDs, mc.DeepClone().AsObject()));
        var guid = Guid.NewGuid();
        var secret = (await admin.RegisterAsync([File("secret.root", se, new JsonObject { ["nEvents"] = 7 }, dataset: aliceDs) with { Guid = guid }])).Results[0].Lfn!;
        var stored = (await admin.RegisterAsync([
            File("visible.root", se, new JsonObject { ["nEvents"] = 5 }, dataset: openDs),
            File("private.root", se, new JsonObject { ["nEvents"] = 9 }, dataset: openDs),
            File("child.root", se, new JsonObject { ["nEvents"] = 6 }, parents: [secret], dataset: openDs)])).Results;
        Assert.All(stored, r => Assert.Equal(ItemStatus.Created, r.Status));
        await admin.ChangeModeAsync(stored[1].Lfn!, Convert.ToInt32("600", 8));
        // Alice's home closes over what is already in it (0755 below, like a home's subdirectories).
        await admin.ChangeOwnerAsync(aliceDir, "alice", "alice");
        await admin.ChangeModeAsync(aliceDir, Convert.ToInt32("700", 8));
        var collection = $"{area}/coll";
        foreach (var ds in new[] { aliceDs, openDs }) await admin.CloseDatasetAsync(ds);
        await admin.CreateCollectionAsync(new CollectionRequest(collection, [aliceDs, openDs]));
        return new World(area, aliceDir, aliceDs, openDs, collection, secret, guid, stored[1].Lfn!, stored[0].Lfn!, stored[2].Lfn!, se);
    }

    [Fact]
    public async Task A_reader_sees_nothing_behind_a_closed_directory_or_of_a_file_it_may_not_read_at_any_door()
    {
        var w = await BuildAsync();
        var eveToken = await Fx.IssueTokenAsync("eve", ["reader"], [$"storage.read:{w.Area}"]);
        var eve = Fx.ClientWith(eveToken);
        string[] visible = [w.Child, w.Visible];

        // Queries, streamed and paged, over files and datasets; the collection's files.
        Assert.Equal(visible, (await eve.QueryAsync(new QueryRequest("nEvents > 0", w.Area))).Rows.Select(r => r.Path).Order(StringComparer.Ordinal));
        Assert.Equal(visible, await eve.QueryAllAsync(new QueryRequest("nEvents > 0", w.Area)).Select(r => r.Path).OrderBy(p => p, StringComparer.Ordinal).ToListAsync());
        Assert.Equal(visible, (await eve.QueryAsync(new QueryRequest("dataType = 'mc'", w.Area))).Rows.Select(r => r.Path).Order(StringComparer.Ordinal));
        Assert.Equal([w.OpenDataset], (await eve.QueryAsync(new QueryRequest("dataType = 'mc'", w.Area, QueryTarget.Datasets))).Rows.Select(r => r.Path));
        Assert.Equal(visible, (await eve.ListCollectionFilesAsync(w.Collection)).Rows.Select(r => r.Path).Order(StringComparer.Ordinal));

        // Facets: counts and values, over file attributes and over directory ones (the counters' shortcut).
        var byFile = await eve.FacetsAsync(new FacetRequest(null, w.Area, ["nEvents"]));
        Assert.Equal(2, byFile.Total);
        Assert.Equal(["5", "6"], byFile.Facets[0].Values.Select(v => v.Value!.ToJsonString()).Order());
        var byDirectory = await eve.FacetsAsync(new FacetRequest(null, w.Area, ["dataType"]));
        Assert.Equal(2, byDirectory.Total);
        Assert.Equal(2, byDirectory.Facets[0].Values.Single().Count);

        // GraphQL search and facets.
        using var search = await eve.GraphQLAsync("""
            query($under: String) {
              search(under: $under, query: "nEvents > 0", first: 100) { rows { path } }
              facets(under: $under, attributes: ["nEvents"]) { total }
            }
            """, new { under = w.Area });
        var data = search.RootElement.GetProperty("data");
        Assert.Equal(visible, data.GetProperty("search").GetProperty("rows").EnumerateArray().Select(r => r.GetProperty("path").GetString()!).Order(StringComparer.Ordinal));
        Assert.Equal(2, data.GetProperty("facets").GetProperty("total").GetInt64());

        // GraphQL's single entries and usage go by the same rule.
        foreach (var (doc, path) in new[]
        {
            ("query($p: String!) { file(lfn: $p) { lfn } }", w.Secret), ("query($p: String!) { stat(path: $p) { name } }", w.Private),
            ("query($p: String!) { directory(path: $p) { entries { name } } }", w.AliceDir),
        })
        {
            using var hidden = await eve.GraphQLAsync(doc, new { p = path });
            Assert.Equal("NOT_FOUND", hidden.RootElement.GetProperty("errors")[0].GetProperty("extensions").GetProperty("code").GetString());
        }
        using (var graphUsage = await eve.GraphQLAsync("query($p: String!) { usage(path: $p) { files } }", new { p = w.Area }))
            Assert.Equal(2, graphUsage.RootElement.GetProperty("data").GetProperty("usage").GetProperty("files").GetInt64());

        // Usage: what it may not see is not counted, logically or per SE.
        var usage = await eve.UsageAsync(w.Area);
        Assert.Equal(2, usage.Files);
        Assert.Equal(2, usage.PerStorageElement.Single(s => s.Se == w.Se).Files);

        // Datasets: the list, the info and the summary.
        Assert.Equal([w.OpenDataset], (await eve.ListDatasetsAsync(w.Area)).Select(d => d.Path));
        Assert.Equal(2, (await eve.GetDatasetSummaryAsync(w.OpenDataset)).Files);
        Assert.Equal(2, (await eve.GetDatasetSummaryAsync(w.OpenDataset)).PerStorageElement.Single().Files);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => eve.GetDatasetSummaryAsync(w.AliceDataset));
        using (var info = new HttpRequestMessage(HttpMethod.Get, $"api/v1/datasets/info?path={Uri.EscapeDataString(w.AliceDataset)}"))
        {
            info.Headers.Authorization = new("Bearer", eveToken);
            using var answer = await Fx.Factory.CreateClient().SendAsync(info);
            Assert.Equal(System.Net.HttpStatusCode.NotFound, answer.StatusCode);
        }

        // Collections: the hidden member is not named.
        Assert.Equal([w.OpenDataset], (await eve.GetCollectionAsync(w.Collection)).Members);
        Assert.Equal([w.OpenDataset], (await eve.ListCollectionsAsync(w.Area)).Single().Members);

        // Lineage: a parent it may not see is not an edge.
        Assert.Empty((await eve.LineageAsync(w.Child)).Edges);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => eve.LineageAsync(w.Secret, LineageDirection.Descendants));

        // Single entries: each answers exactly as a path that does not exist.
        foreach (var hidden in new[] { w.Secret, w.Private })
        {
            var missing = hidden + ".nothing";
            await SameAsMissingAsync(() => eve.StatAsync(hidden), () => eve.StatAsync(missing), hidden, missing);
            await SameAsMissingAsync(() => eve.GetFileAsync(hidden), () => eve.GetFileAsync(missing), hidden, missing);
            await SameAsMissingAsync(() => eve.ListReplicasAsync(hidden), () => eve.ListReplicasAsync(missing), hidden, missing);
            var metadata = (await eve.GetMetadataAsync([hidden, missing])).Results;
            Assert.Equal(metadata[1].Error!.Message.Replace(missing, hidden), metadata[0].Error!.Message);
            var lookup = await eve.LookupAsync([hidden, missing]).ToListAsync();
            Assert.Equal(lookup[1].Error!.Message.Replace(missing, hidden), lookup[0].Error!.Message);
        }
        await SameAsMissingAsync(() => eve.GetByGuidAsync(w.SecretGuid), () => eve.GetByGuidAsync(Guid.NewGuid()), w.SecretGuid.ToString(), null);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => eve.StatAsync(w.AliceDir));
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => eve.ListPageAsync(w.AliceDir));
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => eve.GetSchemaAsync(w.AliceDataset));
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => eve.UsageAsync(w.AliceDataset));
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => eve.QueryAsync(new QueryRequest("nEvents > 0", w.AliceDataset)));
        Assert.Equal(["child.root", "visible.root"], (await eve.ListPageAsync(ParentOf(w.Visible))).Entries.Select(e => e.Name).Order(StringComparer.Ordinal));
        Assert.DoesNotContain("alice", (await eve.ListPageAsync(w.Area)).Entries.Select(e => e.Name));

        // The same doors still show everything to whoever may see it: alice her file, an admin all.
        var alice = Fx.ClientWith(await Fx.IssueTokenAsync("alice", ["reader"], [$"storage.read:{w.Area}"], ["alice"]));
        Assert.Contains(w.Secret, (await alice.QueryAsync(new QueryRequest("nEvents > 0", w.Area))).Rows.Select(r => r.Path));
        Assert.Equal(w.Secret, (await alice.GetFileAsync(w.Secret)).Lfn);
        Assert.Equal(4, (await Fx.Client.QueryAsync(new QueryRequest("nEvents > 0", w.Area))).Rows.Count);
        Assert.Equal(4, (await Fx.Client.UsageAsync(w.Area)).Files);
        Assert.Single((await Fx.Client.LineageAsync(w.Child)).Edges);
    }

    [Fact]
    public async Task Opening_a_directory_shows_what_is_below_it_at_once_even_through_the_cache()
    {
        var w = await BuildAsync();
        var eve = Fx.ClientWith(await Fx.IssueTokenAsync("eve", ["reader"], [$"storage.read:{w.Area}"]));
        // Alice's file is cached (read by the admin), then her directory opens and closes again.
        Assert.Equal(w.Secret, (await Fx.Client.GetFileAsync(w.Secret)).Lfn);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => eve.GetFileAsync(w.Secret));
        await Fx.Client.ChangeModeAsync(w.AliceDir, Convert.ToInt32("755", 8));
        Assert.Equal(w.Secret, (await eve.GetFileAsync(w.Secret)).Lfn);
        Assert.Contains(w.Secret, (await eve.QueryAsync(new QueryRequest("nEvents > 0", w.Area))).Rows.Select(r => r.Path));
        await Fx.Client.ChangeModeAsync(w.AliceDir, Convert.ToInt32("750", 8));
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => eve.GetFileAsync(w.Secret));
        Assert.DoesNotContain(w.Secret, (await eve.QueryAsync(new QueryRequest("nEvents > 0", w.Area))).Rows.Select(r => r.Path));
        // In alice's group, the group's x opens it.
        var friend = Fx.ClientWith(await Fx.IssueTokenAsync("friend", ["reader"], [$"storage.read:{w.Area}"], ["alice"]));
        Assert.Equal(w.Secret, (await friend.GetFileAsync(w.Secret)).Lfn);
        // Moving the subtree under a closed directory hides it as well.
        await Fx.Client.MakeDirectoryAsync($"{w.Area}/vault", mode: Convert.ToInt32("700", 8));
        await Fx.Client.MoveAsync(w.OpenDataset, $"{w.Area}/vault/ds");
        Assert.Empty((await eve.QueryAsync(new QueryRequest("nEvents > 0", w.Area))).Rows.Where(r => r.Path.Contains("/vault/")));
        Assert.NotEmpty((await Fx.Client.QueryAsync(new QueryRequest("nEvents > 0", w.Area))).Rows.Where(r => r.Path.Contains("/vault/")));
    }

    [Fact]
    public async Task Writing_behind_a_directory_one_may_not_search_answers_like_a_missing_one()
    {
        var w = await BuildAsync();
        await Fx.Client.ChangeModeAsync(w.AliceDataset, Convert.ToInt32("777", 8)); // open below, closed above
        var bob = Fx.ClientWith(await Fx.IssueTokenAsync("bob", ["producer"], [$"storage.create:{w.Area}", $"storage.read:{w.Area}"]));
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => bob.RegisterAsync([TestData.File($"{w.AliceDataset}/planted.root", w.Se)]));
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => bob.MakeDirectoryAsync($"{w.AliceDataset}/x"));
        Assert.DoesNotContain("planted.root", (await Fx.Client.ListPageAsync(w.AliceDataset)).Entries.Select(e => e.Name));

        // A refusal names owner, group and mode only to whoever may read the directory (as ls -l would).
        await Fx.Client.MakeDirectoryAsync($"{w.Area}/unlisted", mode: Convert.ToInt32("711", 8));
        await Fx.Client.MakeDirectoryAsync($"{w.Area}/listed", mode: Convert.ToInt32("755", 8));
        var unlisted = await Assert.ThrowsAsync<CatalogForbiddenException>(() => bob.MakeDirectoryAsync($"{w.Area}/unlisted/x"));
        Assert.DoesNotContain("owner", unlisted.Message);
        var listed = await Assert.ThrowsAsync<CatalogForbiddenException>(() => bob.MakeDirectoryAsync($"{w.Area}/listed/x"));
        Assert.Contains("mode 755", listed.Message);
    }

    /// <summary>The C# rule (single entries) and the SQL rule (sets) give the same answer for every mode, owner and group.</summary>
    [Fact]
    public async Task The_rule_in_SQL_and_in_code_agree_on_every_mode()
    {
        await using var conn = new NpgsqlConnection(Fx.PostgresConnectionString);
        await conn.OpenAsync();
        var callers = new[]
        {
            new Catalog.Api.Security.Caller("alice", ["physics"], new HashSet<Catalog.Api.Security.Role> { Catalog.Api.Security.Role.Reader }, []),
            new Catalog.Api.Security.Caller("bob", ["alice", "other"], new HashSet<Catalog.Api.Security.Role> { Catalog.Api.Security.Role.Reader }, []),
            Catalog.Api.Security.Caller.Anonymous(),
        };
        var owners = new[] { ("alice", "physics"), ("alice", "alice"), ("carol", "alice"), ("carol", "physics"), ("carol", "carol") };
        foreach (var caller in callers)
            foreach (var bit in new[] { 4, 2, 1 })
            {
                var viewer = Catalog.Api.Security.Access.ModesOnly(caller);
                var rows = owners.SelectMany(o => Enumerable.Range(0, 512).Select(m => (o.Item1, o.Item2, m))).ToList();
                var parameters = new List<NpgsqlParameter>
                {
                    new("owners", rows.Select(r => r.Item1).ToArray()), new("grps", rows.Select(r => r.Item2).ToArray()), new("modes", rows.Select(r => r.m).ToArray()),
                };
                Viewer.AddTo(viewer, parameters);
                await using var cmd = new NpgsqlCommand($"select {Viewer.Permits("e", bit)} from unnest(@owners, @grps, @modes) with ordinality as e(owner, grp, mode, n) order by n", conn);
                cmd.Parameters.AddRange(parameters.ToArray());
                var sql = new List<bool>();
                await using (var reader = await cmd.ExecuteReaderAsync())
                    while (await reader.ReadAsync()) sql.Add(reader.GetBoolean(0));
                var code = rows.Select(r => Catalog.Api.Security.Access.Grants(caller, r.Item1, r.Item2, r.m, bit)).ToList();
                Assert.Equal(code, sql);
            }
    }

    private static string ParentOf(string lfn) => lfn[..lfn.LastIndexOf('/')];

    private static async Task SameAsMissingAsync(Func<Task> hidden, Func<Task> missing, string hiddenName, string? missingName)
    {
        var a = await Assert.ThrowsAsync<CatalogNotFoundException>(hidden);
        var b = await Assert.ThrowsAsync<CatalogNotFoundException>(missing);
        if (missingName is not null) Assert.Equal(b.Message.Replace(missingName, hiddenName), a.Message);
    }
}
