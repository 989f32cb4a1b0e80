using Catalog.Client;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Replicas;

[Collection(CatalogCollection.Name)]
public class ReplicaTests(CatalogFixture fx)
{
    [Fact]
    public async Task Lookups_answer_the_usable_replicas_by_default_and_every_one_when_asked()
    {
        var (open, closed, other) = (await fx.NewStorageElementAsync("OPEN"), await fx.NewStorageElementAsync("RCLOSED"), await fx.NewStorageElementAsync("OTHER"));
        var dir = TestData.Dir("usable");
        var lfn = dir + "/f.root";
        await fx.Client.RegisterAsync([TestData.File(lfn, open) with { Replicas = [new NewReplica(open), new NewReplica(closed), new NewReplica(other)] }]);
        await fx.Client.SetReplicaStateAsync([new ReplicaRef(lfn, other, State: ReplicaState.Bad)]);
        var spec = await fx.Client.GetStorageElementAsync(closed);
        await fx.Client.PutStorageElementAsync(closed, new StorageElementSpec(spec.Site, spec.Protocol, spec.BaseUrl, ReadEnabled: false));

        // Available on a read-enabled SE only: the bad one and the one on a read-disabled SE are left out.
        Assert.Equal([open], (await fx.Client.ListReplicasAsync(lfn)).Select(r => r.Se));
        Assert.Equal([open], (await fx.Client.LookupAsync([lfn]).SingleAsync()).Replicas!.Select(r => r.Se));
        // Every one when asked, whatever its state.
        Assert.Equal(new[] { open, closed, other }.Order(StringComparer.Ordinal), (await fx.Client.ListReplicasAsync(lfn, all: true)).Select(r => r.Se));
        Assert.Equal(3, (await fx.Client.LookupAsync([lfn], all: true).SingleAsync()).Replicas!.Count);
        // Reading enabled again, its replica is usable again.
        await fx.Client.PutStorageElementAsync(closed, new StorageElementSpec(spec.Site, spec.Protocol, spec.BaseUrl));
        Assert.Equal(new[] { open, closed }.Order(StringComparer.Ordinal), (await fx.Client.ListReplicasAsync(lfn)).Select(r => r.Se));
    }

    [Fact]
    public async Task Add_list_set_state_and_remove_replicas_per_item()
    {
        var kek = await fx.NewStorageElementAsync("KEK");
        var desy = await fx.NewStorageElementAsync("DESY");
        var closed = await fx.NewStorageElementAsync("CLOSED", writeEnabled: false);
        var dir = TestData.Dir("replicas");
        await fx.Client.RegisterAsync([TestData.File(dir + "/f.root", kek)]);

        var added = await fx.Client.AddReplicasAsync([
            new ReplicaRef(dir + "/f.root", desy, State: ReplicaState.BeingCopied),
            new ReplicaRef(dir + "/f.root", kek),
            new ReplicaRef(dir + "/unregistered.root", desy),
            new ReplicaRef(dir + "/f.root", closed),
            new ReplicaRef(dir + "/f.root", "NOPE"),
            new ReplicaRef(dir + "/f.root", desy, "davs://elsewhere/f.root"),
        ]);
        Assert.Equal([ReplicaOutcome.Added, ReplicaOutcome.Exists, ReplicaOutcome.Failed, ReplicaOutcome.Failed, ReplicaOutcome.Failed, ReplicaOutcome.Added],
            added.Results.Select(r => r.Outcome));
        Assert.Equal(ErrorCode.NotFound, added.Results[2].Error!.Code);
        Assert.Equal(ErrorCode.StorageElementWriteDisabled, added.Results[3].Error!.Code);
        Assert.Equal(ErrorCode.UnknownStorageElement, added.Results[4].Error!.Code);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => fx.Client.StatAsync(dir + "/unregistered.root"));

        var replicas = await fx.Client.ListReplicasAsync(dir + "/f.root", all: true);
        Assert.Equal(2, replicas.Count);
        Assert.Equal(ReplicaState.BeingCopied, replicas.Single(r => r.Se == desy).State);

        var states = await fx.Client.SetReplicaStateAsync([
            new ReplicaRef(dir + "/f.root", desy, State: ReplicaState.Available),
            new ReplicaRef(dir + "/f.root", closed, State: ReplicaState.Bad),
            new ReplicaRef(dir + "/f.root", kek),
        ]);
        Assert.Equal([ReplicaOutcome.Updated, ReplicaOutcome.Failed, ReplicaOutcome.Failed], states.Results.Select(r => r.Outcome));
        Assert.Equal("replicas[2].state", states.Results[2].Error!.Field);
        Assert.Equal(ReplicaState.Available, (await fx.Client.ListReplicasAsync(dir + "/f.root")).Single(r => r.Se == desy).State);

        var removed = await fx.Client.RemoveReplicasAsync([new ReplicaRef(dir + "/f.root", kek), new ReplicaRef(dir + "/f.root", kek)]);
        Assert.Equal([ReplicaOutcome.Removed, ReplicaOutcome.Removed], removed.Results.Select(r => r.Outcome));
        Assert.Equal(ReplicaOutcome.Absent, (await fx.Client.RemoveReplicasAsync([new ReplicaRef(dir + "/f.root", kek)])).Results[0].Outcome);
    }

    [Fact]
    public async Task A_bulk_lookup_names_each_replica_and_its_pfn_in_se_order()
    {
        var late = await fx.NewStorageElementAsync("ZZ");
        var early = await fx.NewStorageElementAsync("AA");
        var own = await fx.NewStorageElementAsync("MM");
        var lfn = TestData.Dir("lookup-order") + "/f.root";
        await fx.Client.RegisterAsync([TestData.File(lfn, late) with
        {
            Replicas = [new NewReplica(late), new NewReplica(own, Pfn: "root://elsewhere//f.root"), new NewReplica(early)],
        }]);

        var replicas = (await fx.Client.LookupAsync([lfn]).SingleAsync()).Replicas!;
        Assert.Equal([early, own, late], replicas.Select(r => r.Se));
        Assert.Equal([$"root://{early.ToLowerInvariant()}.test:1094//data{lfn}", "root://elsewhere//f.root", $"root://{late.ToLowerInvariant()}.test:1094//data{lfn}"],
            replicas.Select(r => r.Pfn));
        Assert.Equal(replicas, (await fx.Client.GetFileAsync(lfn)).Replicas);
    }

    [Fact]
    public async Task Removing_the_last_replica_keeps_the_file_findable()
    {
        var se = await fx.NewStorageElementAsync();
        var lfn = TestData.Dir("last-replica") + "/f.root";
        await fx.Client.RegisterAsync([TestData.File(lfn, se)]);
        await fx.Client.RemoveReplicasAsync([new ReplicaRef(lfn, se)]);

        var file = await fx.Client.GetFileAsync(lfn);
        Assert.Empty(file.Replicas);
        var lookup = await fx.Client.LookupAsync([lfn]).SingleAsync();
        Assert.Null(lookup.Error);
        Assert.Empty(lookup.Replicas!);
    }

    [Fact]
    public async Task Removing_a_file_removes_its_replicas()
    {
        var se = await fx.NewStorageElementAsync();
        var lfn = TestData.Dir("rm-file") + "/f.root";
        await fx.Client.RegisterAsync([TestData.File(lfn, se)]);
        Assert.Equal(1, (await fx.Client.GetStorageElementAsync(se)).Files);
        await fx.Client.RemoveAsync([lfn]);
        Assert.Equal(0, (await fx.Client.GetStorageElementAsync(se)).Files);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => fx.Client.ListReplicasAsync(lfn));
    }

    [Fact]
    public async Task Bulk_lookup_of_ten_thousand_lfns_streams_in_order_with_unknowns_per_item()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("lookup");
        var lfns = Enumerable.Range(0, 9_000).Select(i => $"{dir}/d{i % 10}/f{i}.root").ToList();
        foreach (var chunk in lfns.Chunk(5000))
            await fx.Client.RegisterAsync(chunk.Select(l => TestData.File(l, se)).ToList());

        // Unknown names, unknown directories and invalid LFNs interleaved with the files: the answer
        // is read in chunks on several connections, probed in (directory, name) order, yet comes
        // back in request order.
        var asked = lfns.SelectMany((l, i) => i % 9 == 0 ? new[] { l, $"{dir}/d{i % 10}/none{i}.root", $"{dir}/missing{i}/f.root", "/not/under/root" } : [l]).ToList();
        var answers = await fx.Client.LookupAsync(asked).ToListAsync();

        Assert.Equal(asked, answers.Select(a => a.Lfn));
        var known = lfns.ToHashSet();
        Assert.All(answers, a =>
        {
            if (known.Contains(a.Lfn!))
            {
                var replica = Assert.Single(a.Replicas!);
                Assert.Equal(se, replica.Se);
                Assert.EndsWith(a.Lfn!, replica.Pfn);
            }
            else Assert.Equal(a.Lfn == "/not/under/root" ? ErrorCode.InvalidLfn : ErrorCode.NotFound, a.Error!.Code);
        });
        Assert.Equal(9000, answers.Count(a => a.Error is null));
    }

    [Fact]
    public async Task Lookup_without_a_list_or_with_an_unknown_guid_is_an_error()
    {
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => fx.Client.GetByGuidAsync(Guid.NewGuid()));
        using var response = await fx.Http.GetAsync("api/v1/files/by-guid/not-a-guid");
        Assert.Equal(400, (int)response.StatusCode);
        using var noList = await fx.Http.PostAsync("api/v1/replicas/lookup", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(400, (int)noList.StatusCode);
        Assert.Contains("lfns", await noList.Content.ReadAsStringAsync());
    }
}

[Collection(CatalogCollection.Name)]
public class EmptyBatchTests(CatalogFixture fx)
{
    [Fact]
    public async Task An_empty_batch_is_a_valid_request_with_an_empty_answer_on_every_bulk_endpoint()
    {
        var registered = await fx.Client.RegisterAsync([]);
        Assert.Equal((0, 0, 0, 0), (registered.Results.Count, registered.Created, registered.Existing, registered.Failed));
        Assert.Empty((await fx.Client.AddReplicasAsync([])).Results);
        Assert.Empty((await fx.Client.RemoveReplicasAsync([])).Results);
        Assert.Empty((await fx.Client.SetReplicaStateAsync([])).Results);
        Assert.Empty((await fx.Client.SetMetadataAsync([])).Results);
        Assert.Empty((await fx.Client.GetMetadataAsync([])).Results);
        Assert.Empty(await fx.Client.LookupAsync([]).ToListAsync());
        Assert.Empty((await fx.Client.RemoveAsync([])).Results);
        // Still not without a token.
        await Assert.ThrowsAsync<CatalogUnauthorizedException>(() => fx.ClientWith(null).RegisterAsync([]));
    }
}
