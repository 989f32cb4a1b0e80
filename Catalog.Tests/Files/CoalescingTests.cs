using System.Text.Json.Nodes;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Catalog.Tests.Files;

/// <summary>
/// With Catalog:Registration:Coalesce, concurrent small registrations share transactions. The
/// answers must be exactly what each request would have got alone.
/// </summary>
[Collection(CatalogCollection.Name)]
public class CoalescingTests(CatalogFixture fx) : IAsyncLifetime
{
    private WebApplicationFactory<Program> _server = null!;
    private CatalogClient _client = null!;

    public Task InitializeAsync()
    {
        _server = fx.CreateFactory(new Dictionary<string, string?>
        {
            ["Catalog:Registration:Coalesce"] = "true",
            ["Catalog:Registration:Lanes"] = "2",
            ["Catalog:Registration:MaxRequestsPerTransaction"] = "50",
        });
        var http = _server.CreateClient();
        http.DefaultRequestHeaders.Authorization = new("Bearer", fx.AdminToken);
        _client = new CatalogClient(http);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Hundreds_of_concurrent_single_registrations_each_get_their_own_answer()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("coalesce");
        var lpn = $"{dir}/dataset";
        await fx.Client.CreateDatasetAsync(new DatasetRequest(lpn, MaxFilesPerBlock: 7));

        var intoDataset = Enumerable.Range(0, 200).Select(i =>
            _client.RegisterAsync([new NewFile($"job{i:D3}.root", 100 + i, "0000000a", Replicas: [new NewReplica(se)], Dataset: lpn)]));
        var intoDirs = Enumerable.Range(0, 100).Select(i =>
            _client.RegisterAsync([TestData.File($"{dir}/plain{i % 5}/f{i:D3}.root", se)]));
        var answers = await Task.WhenAll(intoDataset.Concat(intoDirs));

        Assert.All(answers, a => Assert.Equal(ItemStatus.Created, Assert.Single(a.Results).Status));
        var placed = answers.Take(200).Select(a => a.Results[0].Lfn!).ToList();
        Assert.Equal(200, placed.Distinct().Count());
        Assert.All(placed.GroupBy(l => l.Split('/')[^2]), g => Assert.InRange(g.Count(), 1, 7));
        Assert.Equal(300, (await fx.Client.UsageAsync(dir)).Files);
        Assert.Equal(200, (await fx.Client.GetDatasetSummaryAsync(lpn)).Files);
        // They did share transactions: rows written by one transaction carry its id (xmin).
        Assert.InRange(await TransactionsAsync(dir), 1, 299);
    }

    /// <summary>How many transactions wrote the files below <paramref name="dir"/>.</summary>
    private async Task<long> TransactionsAsync(string dir)
    {
        await using var conn = new Npgsql.NpgsqlConnection(fx.PostgresConnectionString);
        return await Dapper.SqlMapper.ExecuteScalarAsync<long>(conn, """
            select count(distinct f.xmin::text) from file f join directory d on d.id = f.dir_id where d.path > @dir || '/' and d.path < @dir || '0'
            """, new { dir });
    }

    [Fact]
    public async Task Without_coalescing_every_request_has_its_own_transaction()
    {
        // The measure above can tell: the same storm on a server that does not coalesce writes one transaction per request.
        await using var plain = fx.CreateFactory(new Dictionary<string, string?> { ["Catalog:Registration:Coalesce"] = "false" });
        var http = plain.CreateClient();
        http.DefaultRequestHeaders.Authorization = new("Bearer", fx.AdminToken);
        var client = new CatalogClient(http);
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("no-coalesce");
        await Task.WhenAll(Enumerable.Range(0, 60).Select(i => client.RegisterAsync([TestData.File($"{dir}/d{i % 3}/f{i:D2}.root", se)])));
        Assert.Equal(60, await TransactionsAsync(dir));
    }

    [Fact]
    public async Task One_bad_request_in_a_shared_transaction_fails_alone()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("coalesce-bad");
        var key = Guid.NewGuid().ToString("N");
        await _client.RegisterAsync([TestData.File($"{dir}/first.root", se)], key);
        await fx.Client.RegisterAsync([TestData.File($"{dir}/taken.root", se, guid: Guid.NewGuid())]);

        var good = Enumerable.Range(0, 60).Select(i => _client.RegisterAsync([TestData.File($"{dir}/ok{i:D2}.root", se)])).ToList();
        var reused = _client.RegisterAsync([TestData.File($"{dir}/other.root", se)], key);
        var conflict = _client.RegisterAsync([TestData.File($"{dir}/taken.root", se, guid: Guid.NewGuid())]);
        var replay = _client.RegisterAsync([TestData.File($"{dir}/first.root", se)], key);

        Assert.All(await Task.WhenAll(good), a => Assert.Equal(ItemStatus.Created, a.Results[0].Status));
        Assert.Equal(ErrorCode.IdempotencyKeyReused, (await Assert.ThrowsAsync<CatalogConflictException>(() => reused)).Code);
        Assert.Equal(ErrorCode.Conflict, (await conflict).Results[0].Error!.Code);
        Assert.Equal(ItemStatus.Created, (await replay).Results[0].Status); // the first answer, replayed
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => fx.Client.StatAsync($"{dir}/other.root"));
        Assert.Equal(62, (await fx.Client.UsageAsync(dir)).Files);
    }

    [Fact]
    public async Task Requests_sharing_a_transaction_keep_their_own_indexes_fields_and_lfn_semantics()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("coalesce-same");
        var guid = Guid.NewGuid();
        var burst = Enumerable.Range(0, 40).Select(i => i switch
        {
            < 10 => _client.RegisterAsync([TestData.File($"{dir}/same.root", se, guid: guid)]),                     // identical: 1 created, 9 exist
            < 20 => _client.RegisterAsync([TestData.File($"{dir}/clash.root", se, guid: Guid.NewGuid())]),          // different GUIDs: 1 created, 9 conflicts
            < 30 => _client.RegisterAsync([TestData.File($"{dir}/bad{i}.root", se, size: -1)]),
            _ => _client.RegisterAsync([TestData.File($"{dir}/x{i}.root", se), TestData.File($"relative{i}.root", se)]),
        }).ToList();
        var answers = await Task.WhenAll(burst);

        Assert.Equal((1, 9), (answers[..10].Count(a => a.Created == 1), answers[..10].Count(a => a.Existing == 1)));
        Assert.Equal((1, 9), (answers[10..20].Count(a => a.Created == 1), answers[10..20].Count(a => a.Results[0].Error?.Code == ErrorCode.Conflict)));
        Assert.All(answers[20..30], a => Assert.Equal(("files[0].size", 0), (a.Results[0].Error!.Field, a.Results[0].Index)));
        Assert.All(answers[30..], a => Assert.Equal([(0, ItemStatus.Created), (1, ItemStatus.Failed)], a.Results.Select(r => (r.Index, r.Status))));
        Assert.All(answers[30..], a => Assert.Equal("files[1].lfn", a.Results[1].Error!.Field));
        Assert.Equal(guid, (await fx.Client.GetFileAsync($"{dir}/same.root")).Guid);
    }
}
