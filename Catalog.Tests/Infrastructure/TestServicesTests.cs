namespace Catalog.Tests.Infrastructure;

/// <summary>The choice of where the suite's PostgreSQL and Redis come from.</summary>
public class TestServicesTests
{
    [Fact]
    public void Given_servers_win_over_Docker_and_local_servers()
    {
        Assert.Equal(ServiceSource.Environment, TestServices.Choose("Host=x", "x:6379", "unix:///var/run/docker.sock").Source);
        Assert.Equal(ServiceSource.Containers, TestServices.Choose("Host=x", null, "unix:///var/run/docker.sock").Source);
    }

    [Fact]
    public void Docker_is_used_where_an_engine_is_found_and_local_servers_otherwise()
    {
        Assert.Equal(ServiceSource.Containers, TestServices.Choose(null, null, "tcp://docker:2375").Source);
        var (source, why) = TestServices.Choose(null, null, null);
        Assert.Equal(ServiceSource.LocalServers, source);
        Assert.Contains("no Docker engine", why);
    }

    [Fact]
    public void A_Docker_endpoint_is_found_by_DOCKER_HOST_or_a_socket_and_not_without_either()
    {
        string? Env(string name) => name == "HOME" ? "/home/u" : null;
        Assert.Null(TestServices.DockerEndpoint(_ => false, Env));
        Assert.Equal("unix:///var/run/docker.sock", TestServices.DockerEndpoint(p => p == "/var/run/docker.sock", Env));
        Assert.Equal("unix:///home/u/.docker/run/docker.sock", TestServices.DockerEndpoint(p => p == "/home/u/.docker/run/docker.sock", Env));
        Assert.Equal("tcp://h:2375", TestServices.DockerEndpoint(_ => false, n => n == "DOCKER_HOST" ? "tcp://h:2375" : null));
    }

}

[Collection(CatalogCollection.Name)]
public class TestServicesReportTests(CatalogFixture fx)
{
    [Fact]
    public void This_run_reports_the_path_it_took()
    {
        var report = File.ReadAllText(Path.Combine(CatalogFixture.RepoRoot, "TestResults", "services.txt"));
        Assert.Equal($"test services: {fx.Services.Source} ({fx.Services.Why})\n", report);
        var given = Environment.GetEnvironmentVariable("CATALOG_TEST_POSTGRES") is { Length: > 0 } && Environment.GetEnvironmentVariable("CATALOG_TEST_REDIS") is { Length: > 0 };
        if (!given && TestServices.DockerEndpoint() is null) Assert.Equal(ServiceSource.LocalServers, fx.Services.Source);
    }
}
