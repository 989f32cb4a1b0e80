using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Files;

[Collection(CatalogCollection.Name)]
public class RegistrationTests(CatalogFixture fx)
{
    [Fact]
    public async Task Registers_file_replica_and_metadata_creating_parent_directories()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("register") + "/MC15ri/4S/mixed/mdst/sub00";
        var metadata = new JsonObject { ["nEvents"] = 5000, ["release"] = "release-08-01-00" };
        var response = await fx.Client.RegisterAsync([new NewFile(dir + "/f1.root", 4_400_000_000, "0A0B0C0D", Md5: "00112233445566778899aabbccddeeff",
            Replicas: [new NewReplica(se)], Metadata: metadata)]);

        var result = Assert.Single(response.Results);
        Assert.Equal(ItemStatus.Created, result.Status);
        Assert.Equal(1, result.ReplicasAdded);
        var file = await fx.Client.GetFileAsync(dir + "/f1.root");
        Assert.Equal(result.Guid, file.Guid);
        Assert.Equal(4_400_000_000, file.Size);
        Assert.Equal("0a0b0c0d", file.Adler32);
        Assert.Equal("00112233445566778899aabbccddeeff", file.Md5);
        Assert.Equal(5000, (int)file.Metadata!["nEvents"]!);
        var replica = Assert.Single(file.Replicas);
        Assert.Equal(se, replica.Se);
        Assert.EndsWith("/data" + dir + "/f1.root", replica.Pfn);
        Assert.Equal(EntryType.Directory, (await fx.Client.StatAsync(dir)).Type);
        Assert.Equal(dir + "/f1.root", (await fx.Client.GetByGuidAsync(file.Guid)).Lfn);
    }

    [Fact]
    public async Task Identical_retry_succeeds_and_changes_nothing()
    {
        var se = await fx.NewStorageElementAsync();
        var lfn = TestData.Dir("retry") + "/f.root";
        var first = await fx.Client.RegisterAsync([TestData.File(lfn, se)]);
        var again = await fx.Client.RegisterAsync([TestData.File(lfn, se)]);

        Assert.Equal(ItemStatus.Exists, again.Results[0].Status);
        Assert.Equal(first.Results[0].Guid, again.Results[0].Guid);
        Assert.Equal(0, again.Results[0].ReplicasAdded);
        Assert.Single((await fx.Client.GetFileAsync(lfn)).Replicas);
    }

    [Theory]
    [InlineData(999, "1a2b3c4d", "size")]
    [InlineData(1234, "ffffffff", "adler32")]
    public async Task Same_lfn_with_other_content_is_a_conflict_that_changes_nothing(long size, string adler, string what)
    {
        var se = await fx.NewStorageElementAsync();
        var lfn = TestData.Dir("conflict") + "/f.root";
        var first = await fx.Client.RegisterAsync([TestData.File(lfn, se)]);
        var second = await fx.Client.RegisterAsync([TestData.File(lfn, se, size, adler)]);

        var error = second.Results[0].Error!;
        Assert.Equal(ItemStatus.Failed, second.Results[0].Status);
        Assert.Equal(ErrorCode.Conflict, error.Code);
        Assert.Contains(what, error.Message);
        // Nothing of the second body was stored: the GUID, the size and the checksum are the first's.
        var file = await fx.Client.GetFileAsync(lfn);
        Assert.Equal((first.Results[0].Guid, 1234L, "1a2b3c4d"), (file.Guid, file.Size, file.Adler32));
        Assert.Equal("files[0].lfn", error.Field); // the name is taken, by other content
    }

    [Fact]
    public async Task Same_lfn_with_another_guid_is_a_conflict_and_a_guid_is_unique()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("guid");
        var guid = Guid.NewGuid();
        await fx.Client.RegisterAsync([TestData.File(dir + "/a.root", se, guid: guid)]);

        var otherGuid = await fx.Client.RegisterAsync([TestData.File(dir + "/a.root", se, guid: Guid.NewGuid())]);
        Assert.Equal(ErrorCode.Conflict, otherGuid.Results[0].Error!.Code);
        var guidTaken = await fx.Client.RegisterAsync([TestData.File(dir + "/b.root", se, guid: guid)]);
        Assert.Equal(ErrorCode.Conflict, guidTaken.Results[0].Error!.Code);
        Assert.Equal($"files[0].guid", guidTaken.Results[0].Error!.Field);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => fx.Client.GetFileAsync(dir + "/b.root"));
    }

    [Fact]
    public async Task A_removed_file_can_be_registered_again_with_its_lfn_and_guid()
    {
        var se = await fx.NewStorageElementAsync();
        var lfn = TestData.Dir("reuse") + "/f.root";
        var guid = Guid.NewGuid();
        await fx.Client.RegisterAsync([TestData.File(lfn, se, guid: guid)]);
        await fx.Client.RemoveAsync([lfn]);
        var again = await fx.Client.RegisterAsync([TestData.File(lfn, se, size: 77, guid: guid)]);
        Assert.Equal(ItemStatus.Created, again.Results[0].Status);
        Assert.Equal(77, (await fx.Client.GetFileAsync(lfn)).Size);
    }

    [Fact]
    public async Task Bad_items_fail_alone_and_the_valid_ones_are_stored()
    {
        var se = await fx.NewStorageElementAsync();
        var closed = await fx.NewStorageElementAsync("CLOSED", writeEnabled: false);
        var dir = TestData.Dir("mixed-batch");
        NewFile[] files =
        [
            TestData.File(dir + "/ok1.root", se),
            new(dir + "/neg.root", -1, "1a2b3c4d", Replicas: [new NewReplica(se)]),
            new(dir + "/sum.root", 1, "xyz", Replicas: [new NewReplica(se)]),
            new(dir + "/nosize.root", null, "1a2b3c4d"),
            new(dir + "/nosum.root", 1, null),
            new(dir + "/md5.root", 1, "1a2b3c4d", Md5: "abc"),
            new(dir + "/../escape.root", 1, "1a2b3c4d"),
            new("relative/x.root", 1, "1a2b3c4d"),
            TestData.File(dir + "/unknown-se.root", "NO-SUCH-SE"),
            TestData.File(dir + "/closed-se.root", closed),
            new(dir + "/two-same-se.root", 1, "1a2b3c4d", Replicas: [new NewReplica(se), new NewReplica(se)]),
            TestData.File(dir + "/ok2.root", se),
            TestData.File(dir + "/ok1.root", se, size: 5),
        ];
        var response = await fx.Client.RegisterAsync(files);

        Assert.Equal(2, response.Created);
        Assert.Equal(files.Length - 2, response.Failed);
        string?[] expectedFields =
        [
            null, "files[1].size", "files[2].adler32", "files[3].size", "files[4].adler32", "files[5].md5", "files[6].lfn",
            "files[7].lfn", "files[8].replicas[0].se", "files[9].replicas[0].se", "files[10].replicas[1].se", null, "files[12].lfn",
        ];
        Assert.Equal(expectedFields, response.Results.Select(r => r.Error?.Field));
        Assert.Equal(ErrorCode.UnknownStorageElement, response.Results[8].Error!.Code);
        Assert.Equal(ErrorCode.StorageElementWriteDisabled, response.Results[9].Error!.Code);
        Assert.Equal(ErrorCode.InvalidLfn, response.Results[6].Error!.Code);

        var listed = await fx.Client.ListPageAsync(dir);
        Assert.Equal(["ok1.root", "ok2.root"], listed.Entries.Select(e => e.Name));
        Assert.Equal(1234, (await fx.Client.GetFileAsync(dir + "/ok1.root")).Size);
    }

    /// <summary>A body that is not JSON, or whose file list is not a list, is refused whole; a mistyped item fails alone (PerItemTypingTests).</summary>
    [Theory]
    [InlineData("{\"files\":[{\"lfn\":\"/belle/x\",\"size\":1,", "not JSON")]
    [InlineData("{\"files\":{\"lfn\":1}}", "files")]
    [InlineData("not json", "not JSON")]
    public async Task Malformed_json_is_a_400_naming_the_path(string body, string says)
    {
        using var response = await fx.Http.PostAsync("api/v1/files", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("INVALID_ARGUMENT", (string?)problem["code"]);
        Assert.Contains(says, (string?)problem["detail"]);
    }

    [Fact]
    public async Task A_missing_file_list_is_a_400_and_an_empty_one_an_empty_answer()
    {
        using var missing = await fx.Http.PostAsync("api/v1/files", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Contains("files", await missing.Content.ReadAsStringAsync());
        Assert.Empty((await fx.Client.RegisterAsync([])).Results);
    }

    [Fact]
    public async Task A_batch_above_the_limit_is_refused_naming_the_limit_and_stores_nothing()
    {
        await using var small = fx.CreateFactory(new Dictionary<string, string?> { ["Catalog:MaxBatchSize"] = "3" });
        var http = small.CreateClient();
        http.DefaultRequestHeaders.Authorization = new("Bearer", fx.AdminToken);
        var client = new CatalogClient(http);
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("limit");
        var files = Enumerable.Range(0, 4).Select(i => TestData.File($"{dir}/f{i}.root", se)).ToList();

        var error = await Assert.ThrowsAsync<CatalogValidationException>(() => client.RegisterAsync(files));
        Assert.Equal(ErrorCode.LimitExceeded, error.Code);
        Assert.Contains("Catalog:MaxBatchSize", error.Message);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => fx.Client.StatAsync(dir));
    }

    [Fact]
    public async Task Ten_thousand_files_register_in_one_call()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("bulk");
        var files = Enumerable.Range(0, 10_000)
            .Select(i => TestData.File($"{dir}/sub{i / 1000:00}/f{i:00000}.root", se, size: i)).ToList();
        var response = await fx.Client.RegisterAsync(files);
        Assert.Equal(10_000, response.Created);

        var usage = await fx.Client.UsageAsync(dir);
        Assert.Equal(10_000, usage.Files);
        Assert.Equal(Enumerable.Range(0, 10_000).Sum(i => (long)i), usage.Bytes);
        Assert.Equal(10, usage.Directories);
    }

    [Fact]
    public async Task A_batch_makes_the_directories_of_its_stored_files_only()
    {
        // More files than a shared transaction takes, so the directories are made before the batch's transaction.
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("batch-dirs");
        await fx.Client.MakeDirectoryAsync(dir, parents: true);
        await fx.Client.DeclareAttributeAsync(new AttributeSpec(dir, "nEvents", AttributeType.Integer, AttributeTarget.Files));
        var files = Enumerable.Range(0, 12).Select(i => TestData.File($"{dir}/ok/sub{i % 3}/f{i}.root", se))
            .Append(TestData.File($"{dir}/meta/f.root", se) with { Metadata = new JsonObject { ["nEvents"] = "many" } })
            .Append(TestData.File($"{dir}/lineage/f.root", se) with { Parents = [$"{dir}/no-such-parent.root"] })
            .ToList();
        var response = await fx.Client.RegisterAsync(files);

        Assert.Equal(12, response.Created);
        Assert.Equal("files[12].metadata.nEvents", response.Results[12].Error!.Field);
        Assert.Equal(ErrorCode.NotFound, response.Results[13].Error!.Code);
        Assert.Equal(["ok"], (await fx.Client.ListPageAsync(dir)).Entries.Select(e => e.Name));
        Assert.Equal(["sub0", "sub1", "sub2"], (await fx.Client.ListPageAsync($"{dir}/ok")).Entries.Select(e => e.Name));

        // A refused request and a reused key make no directory either.
        var outsider = fx.ClientWith(await fx.IssueTokenAsync("batch-dirs-outsider", ["producer"], [$"storage.create:{dir}/ok"]));
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => outsider.RegisterAsync(
            Enumerable.Range(0, 12).Select(i => TestData.File($"{dir}/ok/sub{i}/g.root", se)).Append(TestData.File($"{dir}/elsewhere/g.root", se)).ToList()));
        var key = Guid.NewGuid().ToString();
        await fx.Client.RegisterAsync(Enumerable.Range(0, 12).Select(i => TestData.File($"{dir}/keyed/h{i}.root", se)).ToList(), key);
        var reused = await Assert.ThrowsAnyAsync<CatalogClientException>(() => fx.Client.RegisterAsync(
            Enumerable.Range(0, 12).Select(i => TestData.File($"{dir}/reused/h{i}.root", se)).ToList(), key));
        Assert.Equal(ErrorCode.IdempotencyKeyReused, reused.Code);
        Assert.Equal(["keyed", "ok"], (await fx.Client.ListPageAsync(dir)).Entries.Select(e => e.Name));
        Assert.Equal(["sub0", "sub1", "sub2"], (await fx.Client.ListPageAsync($"{dir}/ok")).Entries.Select(e => e.Name));
    }

    [Fact]
    public async Task Parallel_batches_making_the_same_new_directories_store_every_file_once()
    {
        // Batches above the shared-transaction size race to make one new tree before their own transactions.
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("batch-race");
        var batches = Enumerable.Range(0, 8).Select(b => Enumerable.Range(0, 20)
            .Select(i => TestData.File($"{dir}/ds/sub{i % 2:00}/b{b}-f{i}.root", se)).ToList()).ToList();
        var responses = await Task.WhenAll(batches.Select(batch => Task.Run(() => fx.Client.RegisterAsync(batch))));

        Assert.All(responses, r => Assert.Equal(20, r.Created));
        Assert.Equal(["sub00", "sub01"], (await fx.Client.ListPageAsync($"{dir}/ds")).Entries.Select(e => e.Name));
        Assert.Equal(160, (await fx.Client.UsageAsync(dir)).Files);
        Assert.Equal(80, (await fx.Client.ListPageAsync($"{dir}/ds/sub00", limit: 1000)).Entries.Count);
    }

    [Fact]
    public async Task A_large_batch_with_taken_names_or_guids_classifies_every_item()
    {
        // Batches from FileStore.OptimisticBatch on insert without conflict checks first; a taken
        // name or GUID sends the whole batch down the careful path, which must answer as before.
        var (se, other) = (await fx.NewStorageElementAsync(), await fx.NewStorageElementAsync());
        var dir = TestData.Dir("optimistic");
        var first = Enumerable.Range(0, 60).Select(i => TestData.File($"{dir}/f{i:00}.root", se, size: i)).ToList();
        Assert.Equal(60, (await fx.Client.RegisterAsync(first)).Created);
        var takenGuid = (await fx.Client.GetFileAsync($"{dir}/f03.root")).Guid;

        var second = Enumerable.Range(60, 60).Select(i => TestData.File($"{dir}/f{i:00}.root", se, size: i)).ToList();
        second[0] = TestData.File($"{dir}/f00.root", se, size: 0) with { Replicas = [new NewReplica(se), new NewReplica(other)] };
        second[1] = TestData.File($"{dir}/f01.root", se, size: 999);
        second[2] = TestData.File($"{dir}/new-with-taken-guid.root", se) with { Guid = takenGuid };
        var response = await fx.Client.RegisterAsync(second);

        Assert.Equal((57, 1, 2), (response.Created, response.Existing, response.Failed));
        Assert.Equal(1, response.Results[0].ReplicasAdded);
        Assert.Equal(ErrorCode.Conflict, response.Results[1].Error!.Code);
        Assert.Contains("guid", response.Results[2].Error!.Message);
        Assert.All(response.Results.Skip(3), r => Assert.Equal((ItemStatus.Created, 1), (r.Status, r.ReplicasAdded)));
        Assert.Equal(2, (await fx.Client.GetFileAsync($"{dir}/f00.root")).Replicas.Count);
        Assert.Equal(1, (await fx.Client.GetFileAsync($"{dir}/f01.root")).Size);
        var usage = await fx.Client.UsageAsync(dir);
        Assert.Equal(117, usage.Files);
        Assert.Equal(Enumerable.Range(0, 120).Sum(i => (long)i) - 60 - 61 - 62, usage.Bytes);
    }

    [Theory]
    [InlineData(2)]  // a shared transaction's answer
    [InlineData(30)] // a batch of its own (above CoalesceMaxFiles), whose answer is stored from its UTF-8 bytes
    public async Task An_idempotency_key_replays_the_first_answer(int count)
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("idem");
        var key = Guid.NewGuid().ToString();
        var files = Enumerable.Range(0, count - 1).Select(i => TestData.File($"{dir}/f{i}.root", se))
            .Append(TestData.File(dir + "/bad.root", se, size: -5)).ToArray();
        var first = await fx.Client.RegisterAsync(files, key);
        var replay = await fx.Client.RegisterAsync(files, key);

        Assert.Equal(ItemStatus.Created, replay.Results[0].Status);
        Assert.Equal(first.Results[0].Guid, replay.Results[0].Guid);
        Assert.Equal(first.Results.Select(r => (r.Status, r.Guid, r.Lfn, r.Error?.Field)), replay.Results.Select(r => (r.Status, r.Guid, r.Lfn, r.Error?.Field)));
        Assert.Equal(ItemStatus.Failed, replay.Results[^1].Status);

        var reused = await Assert.ThrowsAsync<CatalogConflictException>(() => fx.Client.RegisterAsync([TestData.File(dir + "/other.root", se)], key));
        Assert.Equal(ErrorCode.IdempotencyKeyReused, reused.Code);
        Assert.Equal(422, reused.Status);

        // Past its lifetime the key is gone: the same key starts a fresh execution, and registration
        // being idempotent per file, a repeat of the first batch is "exists", never a duplicate.
        // Only this test's key is made old (the database is shared: other tests' keys stay), then the
        // expiry the server runs takes what is older than a day.
        await using var db = Npgsql.NpgsqlDataSource.Create(fx.PostgresConnectionString);
        await using (var conn = await db.OpenConnectionAsync())
            Assert.Equal(1, await Dapper.SqlMapper.ExecuteAsync(conn, "update idempotency_key set created = created - interval '2 days' where key = @key",
                new { key = $"test-admin\u001f{key}" }));
        Assert.Equal(1, await Catalog.Storage.IdempotencyStore.ExpireAsync(db, DateTimeOffset.UtcNow.AddDays(-1), CancellationToken.None));
        var again = await fx.Client.RegisterAsync(files, key);
        Assert.Equal(ItemStatus.Exists, again.Results[0].Status);
        Assert.Equal(first.Results[0].Guid, again.Results[0].Guid);
    }

    [Fact]
    public async Task Fifty_parallel_registrations_of_one_lfn_with_different_guids_leave_one_file()
    {
        var se = await fx.NewStorageElementAsync();
        var lfn = TestData.Dir("race") + "/f.root";
        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ =>
            fx.Client.RegisterAsync([TestData.File(lfn, se, guid: Guid.NewGuid())])));
        var statuses = responses.Select(r => r.Results[0]).ToList();

        Assert.Equal(1, statuses.Count(s => s.Status == ItemStatus.Created));
        Assert.Equal(49, statuses.Count(s => s.Status == ItemStatus.Failed && s.Error!.Code == ErrorCode.Conflict));
        var file = await fx.Client.GetFileAsync(lfn);
        Assert.Equal(statuses.Single(s => s.Status == ItemStatus.Created).Guid, file.Guid);
        Assert.Single(file.Replicas);
    }

    [Fact]
    public async Task Fifty_parallel_identical_registrations_all_succeed_with_one_file()
    {
        var se = await fx.NewStorageElementAsync();
        var lfn = TestData.Dir("race-same") + "/f.root";
        var guid = Guid.NewGuid();
        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ =>
            fx.Client.RegisterAsync([TestData.File(lfn, se, guid: guid)])));
        var statuses = responses.Select(r => r.Results[0]).ToList();

        Assert.All(statuses, s => Assert.NotEqual(ItemStatus.Failed, s.Status));
        Assert.Equal(1, statuses.Count(s => s.Status == ItemStatus.Created));
        Assert.All(statuses, s => Assert.Equal(guid, s.Guid));
        var usage = await fx.Client.UsageAsync(lfn[..lfn.LastIndexOf('/')]);
        Assert.Equal(1, usage.Files);
        Assert.Equal(1, Assert.Single(usage.PerStorageElement).Files);
    }
}
