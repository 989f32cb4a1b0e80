using System.Net.Http.Json;
using System.Diagnostics;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Client;

/// <summary>
/// Retries against a real server that answers 503 on purpose: safe requests are retried
/// (honouring Retry-After) until they succeed; writes that are not safe to repeat are sent once.
/// </summary>
[Collection(CatalogCollection.Name)]
public class ResilienceTests(CatalogFixture fx) : IAsyncLifetime
{
    private Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactory<Program> _server = null!;
    private FaultInjection _faults = null!;

    public Task InitializeAsync()
    {
        (_server, _faults) = FaultInjection.Server(fx);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private CatalogClient Client(string faultKey, bool addKeys = true, int retries = 6)
    {
        var client = CatalogClient.Create(new CatalogClientOptions
        {
            BaseAddress = new Uri("http://localhost/"),
            Token = fx.AdminToken,
            AddIdempotencyKeys = addKeys,
            MaxRetries = retries,
            RetryDelay = TimeSpan.FromMilliseconds(10),
        }, _server.Server.CreateHandler());
        client.Http.DefaultRequestHeaders.Add(FaultInjection.Header, faultKey);
        return client;
    }

    [Fact]
    public async Task A_read_answered_503_twice_is_retried_after_Retry_After_and_succeeds()
    {
        var dir = TestData.Dir(nameof(ResilienceTests));
        await fx.Client.MakeDirectoryAsync(dir, parents: true);
        var key = Guid.NewGuid().ToString("N");
        _faults.Fail(key, 2);

        var clock = Stopwatch.StartNew();
        var entry = await Client(key).StatAsync(dir);

        Assert.Equal(dir, entry.Path);
        Assert.Equal(3, _faults.Seen(key));
        // Two answers said Retry-After: 1; the client waited for them rather than its 10 ms backoff.
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.9), $"retried after {clock.Elapsed}, before Retry-After");
    }

    [Fact]
    public async Task A_batch_registration_gets_an_idempotency_key_and_is_retried_without_registering_twice()
    {
        var dir = TestData.Dir(nameof(ResilienceTests));
        var se = await fx.NewStorageElementAsync();
        var key = Guid.NewGuid().ToString("N");
        _faults.RetryAfter = TimeSpan.Zero;
        _faults.Fail(key, 2);

        var response = await Client(key).RegisterAsync([TestData.File($"{dir}/a.root", se), TestData.File($"{dir}/b.root", se)]);

        Assert.Equal(3, _faults.Seen(key));
        Assert.Equal(2, response.Created);
        Assert.Equal(2, await CountAsync(dir));
    }

    [Fact]
    public async Task An_answer_lost_after_the_server_committed_is_replayed_for_the_retry_and_nothing_runs_twice()
    {
        // What idempotency keys are for: the server stores the batch and answers, the answer is
        // lost on the way (the connection drops), and the client sends the same request again.
        var dir = TestData.Dir(nameof(ResilienceTests));
        var se = await fx.NewStorageElementAsync();
        var transport = new LoseFirstAnswer(_server.Server.CreateHandler());
        var client = CatalogClient.Create(new CatalogClientOptions
        {
            BaseAddress = new Uri("http://localhost/"), Token = fx.AdminToken, RetryDelay = TimeSpan.FromMilliseconds(10),
        }, transport);

        var response = await client.RegisterAsync([TestData.File($"{dir}/a.root", se), TestData.File($"{dir}/b.root", se)]);

        Assert.Equal(2, transport.Keys.Count);
        Assert.Single(transport.Keys.Distinct());                 // the retry carried the first attempt's key
        Assert.Equal(ItemStatus.Created, transport.FirstAnswer);  // the first attempt was stored
        // The replayed first answer says "created"; running the batch again would have said "exists".
        Assert.All(response.Results, r => Assert.Equal(ItemStatus.Created, r.Status));
        Assert.Equal(2, await CountAsync(dir));
    }

    /// <summary>Lets the first registration reach the server and commit, then drops its answer.</summary>
    private sealed class LoseFirstAnswer(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        public List<string> Keys { get; } = [];
        public ItemStatus? FirstAnswer { get; private set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            if (request.Method != HttpMethod.Post || request.RequestUri?.AbsolutePath != "/api/v1/files") return await base.SendAsync(request, ct);
            Keys.Add(request.Headers.GetValues("Idempotency-Key").Single());
            var response = await base.SendAsync(request, ct);
            if (Keys.Count > 1) return response;
            var answer = await response.Content.ReadFromJsonAsync<RegisterResponse>(CatalogJson.Options, ct);
            FirstAnswer = answer!.Results[0].Status;
            response.Dispose();
            throw new HttpRequestException("the connection was reset before the answer arrived", new IOException("reset"));
        }
    }

    [Fact]
    public async Task A_move_is_not_safe_to_repeat_and_is_sent_once()
    {
        var dir = TestData.Dir(nameof(ResilienceTests));
        await fx.Client.MakeDirectoryAsync($"{dir}/from", parents: true);
        var key = Guid.NewGuid().ToString("N");
        _faults.Fail(key, 2);

        var e = await Assert.ThrowsAsync<CatalogOverloadedException>(() => Client(key).MoveAsync($"{dir}/from", $"{dir}/to"));

        Assert.Equal(1, _faults.Seen(key));
        Assert.Equal(TimeSpan.FromSeconds(1), e.RetryAfter);
        Assert.Equal(EntryType.Directory, (await fx.Client.StatAsync($"{dir}/from")).Type);
    }

    [Fact]
    public async Task A_registration_without_idempotency_key_is_sent_once()
    {
        var dir = TestData.Dir(nameof(ResilienceTests));
        var se = await fx.NewStorageElementAsync();
        var key = Guid.NewGuid().ToString("N");
        _faults.Fail(key, 1);

        await Assert.ThrowsAsync<CatalogOverloadedException>(() => Client(key, addKeys: false).RegisterAsync([TestData.File($"{dir}/a.root", se)]));

        Assert.Equal(1, _faults.Seen(key));
    }

    [Fact]
    public async Task Retries_are_bounded_and_end_with_the_typed_error()
    {
        var dir = TestData.Dir(nameof(ResilienceTests));
        await fx.Client.MakeDirectoryAsync(dir, parents: true);
        var key = Guid.NewGuid().ToString("N");
        _faults.RetryAfter = TimeSpan.Zero;
        _faults.Fail(key, 100);

        await Assert.ThrowsAsync<CatalogOverloadedException>(() => Client(key, retries: 2).StatAsync(dir));

        Assert.Equal(3, _faults.Seen(key));
    }

    [Fact]
    public async Task Bulk_registration_splits_into_batches_and_answers_every_file_once()
    {
        var dir = TestData.Dir(nameof(ResilienceTests));
        var se = await fx.NewStorageElementAsync();
        var files = Enumerable.Range(0, 2_500)
            .Select(i => TestData.File($"{dir}/f{i:D5}.root", se))
            .Append(TestData.File("relative/path.root", se))
            .ToList();

        var results = await fx.Client.RegisterManyAsync(files, batchSize: 300, parallelism: 3).ToListAsync();

        Assert.Equal(Enumerable.Range(0, files.Count), results.Select(r => r.Index).Order());
        Assert.All(results.Take(..^1), r => Assert.Equal(files[r.Index].Lfn, r.Lfn));
        var failed = Assert.Single(results, r => r.Status == ItemStatus.Failed);
        Assert.Equal(files.Count - 1, failed.Index);
        Assert.Equal(ErrorCode.InvalidLfn, failed.Error!.Code);
        Assert.Equal(2_500, await CountAsync(dir));
    }

    [Fact]
    public async Task An_unreachable_server_fails_with_HttpRequestException_after_the_retries()
    {
        var retries = new List<CatalogRetry>();
        var client = CatalogClient.Create(new CatalogClientOptions
        {
            BaseAddress = new Uri("http://127.0.0.1:1/"),
            MaxRetries = 2,
            RetryDelay = TimeSpan.FromMilliseconds(10),
            OnRetry = retries.Add,
        });
        await Assert.ThrowsAsync<HttpRequestException>(() => client.StatAsync("/belle"));
        Assert.Equal([1, 2], retries.Select(r => r.Attempt));
    }

    private async Task<long> CountAsync(string dir) => (await fx.Client.UsageAsync(dir)).Files;
}
