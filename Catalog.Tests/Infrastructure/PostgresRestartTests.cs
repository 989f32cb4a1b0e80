using System.Collections.Concurrent;
using System.Diagnostics;
using Catalog.Client;
using Catalog.Contracts;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Catalog.Tests.Infrastructure;

/// <summary>
/// PostgreSQL restarted (fast: connections cut) in the middle of a registration storm. Every
/// registration whose connection was cut, or that came while the database was down or starting,
/// is answered 503 with Retry-After, never 500; the client retries with the same idempotency key;
/// every job's file ends up stored exactly once. A private PostgreSQL, so the shared one is not
/// disturbed.
/// </summary>
[Collection(CatalogCollection.Name)]
public class PostgresRestartTests(CatalogFixture fx, Xunit.Abstractions.ITestOutputHelper output)
{
    private const int Jobs = 3000, InFlight = 48;

    [Fact]
    public async Task A_restart_under_a_storm_answers_503_not_500_and_loses_or_doubles_nothing()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"catalog-restart-{Guid.NewGuid():N}");
        var lines = (await ScriptAsync("start", dir)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        try
        {
            var (postgres, redis) = (lines[^2].Trim(), lines[^1].Trim());
            await using var server = fx.CreateFactory(new Dictionary<string, string?>
            {
                ["ConnectionStrings:Catalog"] = postgres,
                ["ConnectionStrings:Redis"] = redis,
            });
            await server.Services.GetRequiredService<Catalog.Storage.Migrator>().MigrateAsync(["/belle", "/test"]);
            var statuses = new ConcurrentDictionary<int, int>();
            var client = CatalogClient.Create(new CatalogClientOptions
            {
                BaseAddress = new Uri("http://localhost/"),
                Token = fx.AdminToken,
                MaxRetries = 20,
                MaxRetryDelay = TimeSpan.FromSeconds(2),
            }, new Recording(statuses) { InnerHandler = server.Server.CreateHandler() });
            await client.PutStorageElementAsync("RESTART-SE", new StorageElementSpec("TEST", "root", "root://restart.test:1094//data"));
            var area = TestData.Dir("restart");
            await client.MakeDirectoryAsync(area, parents: true);

            var done = 0;
            var restarted = new TaskCompletionSource();
            var restart = Task.Run(async () =>
            {
                while (Volatile.Read(ref done) < Jobs / 4) await Task.Delay(10);
                var clock = Stopwatch.StartNew();
                await ScriptAsync("restart-postgres", dir);
                restarted.SetResult();
                return clock.Elapsed;
            });
            using var gate = new SemaphoreSlim(InFlight);
            var answers = await Task.WhenAll(Enumerable.Range(0, Jobs).Select(async i =>
            {
                await gate.WaitAsync();
                try
                {
                    var answer = await client.RegisterAsync([TestData.File($"{area}/job{i:D5}.root", "RESTART-SE")]);
                    Interlocked.Increment(ref done);
                    return answer.Results[0].Status;
                }
                finally { gate.Release(); }
            }));
            var downFor = await restart;

            output.WriteLine($"restart took {downFor.TotalSeconds:F1} s; attempts by status: {Describe(statuses)}");
            Assert.True(restarted.Task.IsCompleted);
            Assert.False(statuses.ContainsKey(500), $"answers: {Describe(statuses)}");
            Assert.True(statuses.GetValueOrDefault(503) > 0, $"the restart ({downFor.TotalSeconds:F1} s) cut no request: {Describe(statuses)}");
            // A retry whose first attempt had committed before its answer was lost gets that answer again ("created") or "exists".
            Assert.All(answers, s => Assert.True(s is ItemStatus.Created or ItemStatus.Exists, s.ToString()));

            await using var db = new NpgsqlConnection(postgres);
            var stored = (await db.QueryAsync<string>(
                "select f.name from file f join directory d on d.id = f.dir_id where d.path = @area", new { area })).ToList();
            Assert.Equal(Jobs, stored.Count);
            Assert.Equal(Enumerable.Range(0, Jobs).Select(i => $"job{i:D5}.root"), stored.Order(StringComparer.Ordinal));
            Assert.Equal(Jobs, await db.ExecuteScalarAsync<long>(
                "select count(*) from replica r join file f on f.id = r.file_id join directory d on d.id = f.dir_id where d.path = @area", new { area }));
        }
        finally
        {
            await ScriptAsync("stop", dir);
        }
    }

    private static string Describe(ConcurrentDictionary<int, int> statuses) =>
        string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}: {s.Value}"));

    /// <summary>Counts every attempt's status, under the client's retries.</summary>
    private sealed class Recording(ConcurrentDictionary<int, int> statuses) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var response = await base.SendAsync(request, ct);
            statuses.AddOrUpdate((int)response.StatusCode, 1, (_, n) => n + 1);
            return response;
        }
    }

    private static Task<string> ScriptAsync(string command, string dir) => TestServices.RunAsync(CatalogFixture.RepoRoot, command, dir);
}
