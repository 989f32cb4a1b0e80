using System.Diagnostics;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using Testcontainers.PostgreSql;
using Testcontainers.Redis;

namespace Catalog.Tests.Infrastructure;

/// <summary>Where a run's PostgreSQL and Redis come from.</summary>
public enum ServiceSource
{
    /// <summary>CATALOG_TEST_POSTGRES and CATALOG_TEST_REDIS name running servers.</summary>
    Environment,
    /// <summary>Testcontainers starts them in Docker.</summary>
    Containers,
    /// <summary>scripts/test-services.sh starts private local servers (no Docker engine here).</summary>
    LocalServers,
}

/// <summary>
/// Starts the suite's real PostgreSQL and Redis: given servers, else containers where a Docker
/// engine answers, else local servers from Debian's packages. The path a run took is written
/// to TestResults/services.txt (./test.sh prints it).
/// </summary>
public sealed class TestServices : IAsyncDisposable
{
    private readonly List<IContainer> _containers = [];
    private string? _localDir;

    public string Postgres { get; private set; } = "";
    public string Redis { get; private set; } = "";
    public ServiceSource Source { get; private set; }
    public string Why { get; private set; } = "";

    /// <summary>The decision itself, before anything starts: given servers win, then Docker, then local servers.</summary>
    public static (ServiceSource Source, string Why) Choose(string? postgres, string? redis, string? dockerEndpoint)
    {
        if (!string.IsNullOrEmpty(postgres) && !string.IsNullOrEmpty(redis))
            return (ServiceSource.Environment, "CATALOG_TEST_POSTGRES and CATALOG_TEST_REDIS are set");
        return dockerEndpoint is null
            ? (ServiceSource.LocalServers, "no Docker engine (no DOCKER_HOST, no docker.sock)")
            : (ServiceSource.Containers, $"Docker engine at {dockerEndpoint}");
    }

    /// <summary>
    /// A Docker endpoint worth trying, found the cheap way (an environment variable or a socket
    /// file): without one, Testcontainers' own detection takes about a second to fail.
    /// </summary>
    public static string? DockerEndpoint(Func<string, bool>? exists = null, Func<string, string?>? env = null)
    {
        exists ??= File.Exists;
        env ??= System.Environment.GetEnvironmentVariable;
        if (env("DOCKER_HOST") is { Length: > 0 } host) return host;
        var candidates = new[] { "/var/run/docker.sock", Path.Combine(env("HOME") ?? "/root", ".docker/run/docker.sock"),
            Path.Combine(env("XDG_RUNTIME_DIR") ?? "/run/user/0", "docker.sock") };
        return candidates.FirstOrDefault(exists) is { } socket ? "unix://" + socket : null;
    }

    public static async Task<TestServices> StartAsync(string repoRoot)
    {
        var services = new TestServices();
        var (pg, redis) = (System.Environment.GetEnvironmentVariable("CATALOG_TEST_POSTGRES"), System.Environment.GetEnvironmentVariable("CATALOG_TEST_REDIS"));
        (services.Source, services.Why) = Choose(pg, redis, DockerEndpoint());
        if (services.Source == ServiceSource.Environment) (services.Postgres, services.Redis) = (pg!, redis!);
        if (services.Source == ServiceSource.Containers)
        {
            try
            {
                await services.StartContainersAsync();
            }
            catch (Exception e) when (e is DockerUnavailableException or InvalidOperationException)
            {
                (services.Source, services.Why) = (ServiceSource.LocalServers, $"Docker did not answer ({e.GetType().Name}: {e.Message.Split('\n')[0]})");
            }
        }
        if (services.Source == ServiceSource.LocalServers) await services.StartLocalAsync(repoRoot);
        var report = Path.Combine(repoRoot, "TestResults", "services.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(report)!);
        await File.WriteAllTextAsync(report, $"test services: {services.Source} ({services.Why})\n");
        return services;
    }

    private async Task StartContainersAsync()
    {
        var postgres = new PostgreSqlBuilder("postgres:15").WithDatabase("catalog").WithUsername("postgres").WithPassword("postgres").Build();
        var redis = new RedisBuilder("redis:7").Build();
        _containers.AddRange([postgres, redis]);
        await Task.WhenAll(postgres.StartAsync(), redis.StartAsync());
        (Postgres, Redis) = (postgres.GetConnectionString(), redis.GetConnectionString());
    }

    private async Task StartLocalAsync(string repoRoot)
    {
        _localDir = Path.Combine(Path.GetTempPath(), $"catalog-test-{System.Environment.ProcessId}");
        var lines = (await RunAsync(repoRoot, "start", _localDir)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        (Postgres, Redis) = (lines[^2], lines[^1]);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var container in _containers) await container.DisposeAsync();
        if (_localDir is not null) await RunAsync(CatalogFixture.RepoRoot, "stop", _localDir);
    }

    /// <summary>Runs <c>scripts/test-services.sh COMMAND DIR</c> (start, restart-postgres, stop) and returns what it printed.</summary>
    internal static async Task<string> RunAsync(string repoRoot, string command, string dir)
    {
        var psi = new ProcessStartInfo("bash", [Path.Combine(repoRoot, "scripts", "test-services.sh"), command, dir])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"test-services.sh {command} failed: {await stderr}");
        return await stdout;
    }
}
