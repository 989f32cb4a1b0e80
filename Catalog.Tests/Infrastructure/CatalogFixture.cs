using System.Net.Http.Json;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Storage;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Catalog.Tests.Infrastructure;

/// <summary>
/// One real server (in-process) on a real PostgreSQL and Redis for the whole suite, from
/// <see cref="TestServices"/> (given servers, Testcontainers, or local servers). Tests isolate by LFN prefix.
/// </summary>
public sealed class CatalogFixture : IAsyncLifetime
{
    private TestServices _services = null!;
    public TestServices Services => _services;

    public string PostgresConnectionString { get; private set; } = "";
    public string RedisConnectionString { get; private set; } = "";
    public WebApplicationFactory<Program> Factory { get; private set; } = null!;
    /// <summary>A client with an admin token: most tests are about behaviour, not permissions.</summary>
    public CatalogClient Client { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    public string AdminToken { get; private set; } = "";
    public string KeyFile { get; } = Path.Combine(Path.GetTempPath(), $"catalog-test-keys-{Environment.ProcessId}.json");

    public static string RepoRoot { get; } = FindRepoRoot();

    public async Task InitializeAsync()
    {
        _services = await TestServices.StartAsync(RepoRoot);
        PostgresConnectionString = _services.Postgres;
        RedisConnectionString = _services.Redis;

        Factory = CreateFactory(new Dictionary<string, string?>());
        await Factory.Services.GetRequiredService<Migrator>().MigrateAsync(["/belle", "/test"]);
        AdminToken = await IssueTokenAsync("test-admin", ["admin"], ["storage.read:/", "storage.modify:/"]);
        Http = Factory.CreateClient();
        Http.DefaultRequestHeaders.Authorization = new("Bearer", AdminToken);
        Client = new CatalogClient(Http);
        // Behaviour tests register free-form metadata under /belle/t; the metadata tests use strict areas elsewhere.
        await Client.MakeDirectoryAsync("/belle/t", parents: true);
        using var policy = await Http.PutAsJsonAsync("api/v1/schema/policy", new PolicyRequest("/belle/t", true), CatalogJson.Options);
        policy.EnsureSuccessStatusCode();
    }

    /// <summary>A token from the server's own key, issued without a caller (like the server's token command).</summary>
    public async Task<string> IssueTokenAsync(string subject, string[] roles, string[] scopes, string[]? groups = null, long lifetimeSeconds = 3600)
    {
        var tokens = Factory.Services.GetRequiredService<Catalog.Api.Security.TokenService>();
        var spec = tokens.Validate(new TokenRequest(subject, roles, scopes, groups, lifetimeSeconds));
        return (await tokens.IssueUncheckedAsync(spec, "test", CancellationToken.None)).Token!;
    }

    /// <summary>A client of the main server carrying <paramref name="token"/> (or none).</summary>
    public CatalogClient ClientWith(string? token)
    {
        var http = Factory.CreateClient();
        if (token is not null) http.DefaultRequestHeaders.Authorization = new("Bearer", token);
        return new CatalogClient(http);
    }

    /// <summary>A server with extra settings (e.g. a small batch limit), on the same databases.</summary>
    public WebApplicationFactory<Program> CreateFactory(IDictionary<string, string?> settings) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
        {
            b.UseSetting("ConnectionStrings:Catalog", PostgresConnectionString);
            b.UseSetting("ConnectionStrings:Redis", RedisConnectionString);
            b.UseSetting("Catalog:Roots:0", "/belle");
            b.UseSetting("Catalog:Roots:1", "/test");
            b.UseSetting("Catalog:Auth:KeyFile", KeyFile);
            b.UseSetting("Catalog:Auth:RevocationRefresh", "00:00:01");
            foreach (var (key, value) in settings) b.UseSetting(key, value);
        });

    public async Task DisposeAsync()
    {
        await Factory.DisposeAsync();
        File.Delete(KeyFile);
        await _services.DisposeAsync();
    }

    /// <summary>A fresh SE with a unique name, open for writing.</summary>
    public async Task<string> NewStorageElementAsync(string prefix = "SE", bool writeEnabled = true)
    {
        var name = $"{prefix}-{Guid.NewGuid():N}"[..20];
        await Client.PutStorageElementAsync(name, new StorageElementSpec("TEST", "root", $"root://{name.ToLowerInvariant()}.test:1094//data", WriteEnabled: writeEnabled));
        return name;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Catalog.sln"))) return dir.FullName;
        throw new InvalidOperationException("Catalog.sln not found above the test binaries");
    }
}

[CollectionDefinition(Name)]
public sealed class CatalogCollection : ICollectionFixture<CatalogFixture>
{
    public const string Name = "catalog";
}

/// <summary>Helpers for building test data under a prefix of the test's own.</summary>
public static class TestData
{
    /// <summary>A unique directory for one test, e.g. /belle/test/Registration-1a2b3c4d.</summary>
    public static string Dir(string name) => $"/belle/t/{name}-{Guid.NewGuid():N}";

    public static NewFile File(string lfn, string se, long size = 1234, string adler32 = "1a2b3c4d", Guid? guid = null) =>
        new(lfn, size, adler32, guid, Replicas: [new NewReplica(se)]);
}
