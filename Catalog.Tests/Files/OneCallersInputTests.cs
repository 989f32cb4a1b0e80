using System.Text.Json.Nodes;
using Catalog.Api.Files;
using Catalog.Api.Security;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace Catalog.Tests.Files;

/// <summary>No caller pays for another's input: a bad value fails its own item, and a shared transaction that fails runs its requests again alone.</summary>
[Collection(CatalogCollection.Name)]
public class OneCallersInputTests(CatalogFixture fx)
{
    [Fact]
    public async Task A_NUL_in_a_metadata_value_fails_its_item_and_the_rest_of_the_batch_is_stored()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("nul");
        var files = new[]
        {
            TestData.File($"{dir}/good.root", se) with { Metadata = new JsonObject { ["note"] = "fine" } },
            TestData.File($"{dir}/bad.root", se) with { Metadata = new JsonObject { ["note"] = "a\u0000b" } },
            TestData.File($"{dir}/nested.root", se) with { Metadata = new JsonObject { ["note"] = new JsonArray("ok", "x\u0000") } },
        };
        var response = await fx.Client.RegisterAsync(files);
        Assert.Equal(ItemStatus.Created, response.Results[0].Status);
        Assert.Equal("files[1].metadata.note", response.Results[1].Error!.Field);
        Assert.Equal("files[2].metadata.note", response.Results[2].Error!.Field);
        var listed = await fx.Client.ListPageAsync(dir);
        Assert.Equal(["good.root"], listed.Entries.Select(e => e.Name));
    }

    [Fact]
    public async Task Concurrent_single_registrations_beside_a_NUL_value_all_succeed()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("nul-storm");
        var good = Enumerable.Range(0, 60).Select(i => fx.Client.RegisterAsync([TestData.File($"{dir}/f{i}.root", se)])).ToList();
        var bad = fx.Client.RegisterAsync([TestData.File($"{dir}/bad.root", se) with { Metadata = new JsonObject { ["note"] = "\u0000" } }]);
        foreach (var r in await Task.WhenAll(good)) Assert.Equal(ItemStatus.Created, r.Results[0].Status);
        Assert.Equal(ItemStatus.Failed, (await bad).Results[0].Status);
    }

    [Fact]
    public async Task A_shared_transaction_that_fails_runs_each_request_again_alone()
    {
        var ran = new List<int>();
        var firstStarted = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        async Task<RegistrationWriter.Outcome[]> Write(IReadOnlyList<RegistrationWriter.Work> works, CancellationToken ct)
        {
            lock (ran) ran.Add(works.Count);
            if (works[0].Key == "first") { firstStarted.TrySetResult(); await release.Task; }
            // A statement refused for one request's data (think SQLSTATE 22xxx) fails the whole transaction.
            if (works.Any(w => w.Key == "bad")) throw new InvalidOperationException("data of request 'bad' refused");
            return works.Select(_ => new RegistrationWriter.Outcome(new RegisterResponse([], 1, 0, 0), null)).ToArray();
        }
        var coalescer = new RegistrationCoalescer(Write, Options.Create(new RegistrationOptions { Lanes = 1 }));
        await coalescer.StartAsync(CancellationToken.None);
        RegistrationWriter.Work Work(string key) => new([], [], [], key, null, Caller.Anonymous());

        var first = coalescer.SubmitAsync(Work("first"), CancellationToken.None);
        await firstStarted.Task; // the lane is busy: what comes next waits and is taken together
        var others = Enumerable.Range(0, 5).Select(i => coalescer.SubmitAsync(Work($"good{i}"), CancellationToken.None)).ToList();
        var bad = coalescer.SubmitAsync(Work("bad"), CancellationToken.None);
        release.SetResult();

        await first;
        foreach (var other in others) Assert.Equal(1, (await other).Created);
        await Assert.ThrowsAsync<InvalidOperationException>(() => bad);
        Assert.Equal([1, 6, 1, 1, 1, 1, 1, 1], ran); // the shared try, then each of the six alone
        await coalescer.StopAsync(CancellationToken.None);
    }
}
