using System.Net;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Security;

/// <summary>Every path that modifies an entry demands write on it; a revoked token stays refused for as long as validation would accept it.</summary>
[Collection(CatalogCollection.Name)]
public class WriteOnTheEntryTests(CatalogFixture fx)
{
    [Fact]
    public async Task Registering_someone_elses_file_again_does_not_add_the_callers_replica()
    {
        var root = TestData.Dir("reregister");
        await fx.Client.MakeDirectoryAsync(root, parents: true);
        await fx.Client.ChangeModeAsync(root, Convert.ToInt32("777", 8));
        var (seA, seB) = (await fx.NewStorageElementAsync(), await fx.NewStorageElementAsync());
        var alice = fx.ClientWith(await fx.IssueTokenAsync("alice", ["producer"], [$"storage.create:{root}", $"storage.read:{root}"]));
        var mallory = fx.ClientWith(await fx.IssueTokenAsync("mallory", ["producer"], [$"storage.create:{root}", $"storage.read:{root}"]));
        var file = TestData.File($"{root}/a/out.root", seA);
        Assert.Equal(ItemStatus.Created, (await alice.RegisterAsync([file])).Results[0].Status);
        await alice.ChangeModeAsync(file.Lfn!, Convert.ToInt32("644", 8)); // mallory may still write the directory, not the file

        var again = await mallory.RegisterAsync([file with { Replicas = [new NewReplica(seB, "root://evil//x")], Parents = [] }]);
        Assert.Equal(ErrorCode.Forbidden, again.Results[0].Error!.Code);
        Assert.Equal("files[0].lfn", again.Results[0].Error!.Field);
        Assert.Equal([seA], (await fx.Client.ListReplicasAsync(file.Lfn!)).Select(r => r.Se));

        // The owner's own retry, the case idempotent registration exists for, still answers "exists".
        var retry = await alice.RegisterAsync([file with { Replicas = [new NewReplica(seB)] }]);
        Assert.Equal(ItemStatus.Exists, retry.Results[0].Status);
        Assert.Equal(2, (await fx.Client.ListReplicasAsync(file.Lfn!)).Count);
    }

    [Fact]
    public async Task A_producer_cannot_make_someone_elses_directory_a_dataset()
    {
        var root = TestData.Dir("others-dataset");
        await fx.Client.MakeDirectoryAsync($"{root}/theirs", parents: true);
        var producer = fx.ClientWith(await fx.IssueTokenAsync("dataset-maker", ["producer"], [$"storage.create:{root}", $"storage.read:{root}"]));
        var e = await Assert.ThrowsAsync<Catalog.Client.CatalogForbiddenException>(() => producer.CreateDatasetAsync(new DatasetRequest($"{root}/theirs")));
        Assert.Contains("theirs", e.Message);
        Assert.Empty(await fx.Client.ListDatasetsAsync(root));
    }

    [Fact]
    public async Task A_producer_pins_in_a_collection_only_what_it_may_write_and_sets_metadata_only_on_its_own_directories()
    {
        var root = TestData.Dir("pinning");
        await fx.Client.MakeDirectoryAsync(root, parents: true);
        await fx.Client.ChangeModeAsync(root, Convert.ToInt32("777", 8));
        await fx.Client.CreateDatasetAsync(new DatasetRequest($"{root}/theirs"));
        await fx.Client.ChangeModeAsync($"{root}/theirs", Convert.ToInt32("755", 8));
        var producer = fx.ClientWith(await fx.IssueTokenAsync("pinner", ["producer"], [$"storage.create:{root}", $"storage.read:{root}"]));
        await producer.CreateDatasetAsync(new DatasetRequest($"{root}/mine"));
        await producer.CloseDatasetAsync($"{root}/mine"); // only closed datasets go into collections

        // Pinning someone else's dataset would keep its owner from ever removing it.
        var pinned = await Assert.ThrowsAsync<Catalog.Client.CatalogForbiddenException>(() =>
            producer.CreateCollectionAsync(new CollectionRequest($"{root}/coll", [$"{root}/mine", $"{root}/theirs"])));
        Assert.Contains("members[1]", pinned.Message);
        await Assert.ThrowsAsync<Catalog.Client.CatalogNotFoundException>(() => fx.Client.StatAsync($"{root}/coll"));
        Assert.Equal([$"{root}/mine"], (await producer.CreateCollectionAsync(new CollectionRequest($"{root}/coll", [$"{root}/mine"]))).Members);

        // A writable directory of someone else's may become a dataset, but not take the producer's values.
        await fx.Client.MakeDirectoryAsync($"{root}/shared", mode: Convert.ToInt32("777", 8));
        var values = await Assert.ThrowsAsync<Catalog.Client.CatalogForbiddenException>(() =>
            producer.CreateDatasetAsync(new DatasetRequest($"{root}/shared", new System.Text.Json.Nodes.JsonObject { ["campaign"] = "mine" })));
        Assert.Contains("data-manager", values.Message);
        Assert.Empty(await fx.Client.ListDatasetsAsync($"{root}/shared"));
        Assert.Equal($"{root}/shared", (await producer.CreateDatasetAsync(new DatasetRequest($"{root}/shared"))).Path);
        await producer.MakeDirectoryAsync($"{root}/own");
        Assert.Equal("mine", (await producer.CreateDatasetAsync(new DatasetRequest($"{root}/own", new System.Text.Json.Nodes.JsonObject { ["campaign"] = "mine" }))).Metadata!["campaign"]!.GetValue<string>());
    }

    [Fact]
    public async Task What_a_caller_cannot_read_is_neither_linked_nor_named()
    {
        var root = TestData.Dir("hidden");
        var se = await fx.NewStorageElementAsync();
        var guid = Guid.NewGuid();
        var secret = TestData.File($"{root}/alice/secret.root", se, guid: guid);
        Assert.Equal(ItemStatus.Created, (await fx.Client.RegisterAsync([secret])).Results[0].Status);
        await fx.Client.MakeDirectoryAsync($"{root}/bob");
        await fx.Client.ChangeModeAsync($"{root}/bob", Convert.ToInt32("777", 8));
        var bob = fx.ClientWith(await fx.IssueTokenAsync("bob", ["producer"], [$"storage.create:{root}/bob", $"storage.read:{root}/bob"]));

        var child = await bob.RegisterAsync([TestData.File($"{root}/bob/child.root", se) with { Parents = [secret.Lfn] }]);
        var missing = await bob.RegisterAsync([TestData.File($"{root}/bob/orphan.root", se) with { Parents = [$"{root}/alice/nothing.root"] }]);
        Assert.Equal(ErrorCode.NotFound, child.Results[0].Error!.Code);
        Assert.Equal(missing.Results[0].Error!.Message.Replace("nothing.root", "secret.root"), child.Results[0].Error!.Message);

        var clash = await bob.RegisterAsync([TestData.File($"{root}/bob/copy.root", se, guid: guid)]);
        Assert.Equal(ErrorCode.Conflict, clash.Results[0].Error!.Code);
        Assert.DoesNotContain("alice", clash.Results[0].Error!.Message);
    }

    [Fact]
    public async Task A_revoked_token_is_refused_past_its_expiry_while_the_clock_skew_would_accept_it()
    {
        var tokens = fx.Factory.Services.GetService(typeof(Catalog.Api.Security.TokenService)) as Catalog.Api.Security.TokenService;
        var issued = await tokens!.IssueUncheckedAsync(new TokenRequest("short-lived", ["reader"], ["storage.read:/belle"], ["short-lived"], 1), "test", CancellationToken.None);
        var client = fx.ClientWith(issued.Token);
        Assert.Equal("short-lived", (await client.WhoAmIAsync()).Subject);
        await fx.Client.RevokeTokenAsync(issued.Id);
        // Past exp, the 30 s skew still lets the signature check pass; the revocation list is
        // reloaded every second here: after several reloads the token must still be refused.
        var until = DateTime.UtcNow.AddSeconds(4);
        while (DateTime.UtcNow < until)
        {
            using var response = await fx.Factory.CreateClient().SendAsync(new HttpRequestMessage(HttpMethod.Get, "api/v1/whoami")
                { Headers = { Authorization = new("Bearer", issued.Token) } });
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            await Task.Delay(500);
        }
    }
}
