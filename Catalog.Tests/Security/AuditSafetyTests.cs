using Catalog.Api.Audit;
using Catalog.Storage;
using Catalog.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Catalog.Tests.Security;

/// <summary>No request can stop the audit trail: text is made safe before it is queued, and a refused event is set aside, not retried forever.</summary>
[Collection(CatalogCollection.Name)]
public class AuditSafetyTests(CatalogFixture fx)
{
    [Fact]
    public void Control_characters_and_lone_surrogates_are_written_as_escapes()
    {
        Assert.Equal("/belle/a\\u0000b\\u000A", AuditLog.Escape("/belle/a\0b\n"));
        Assert.Equal("x\\uD800y", AuditLog.Escape("x\ud800y"));
        Assert.Equal("ok 😀 /belle", AuditLog.Escape("ok 😀 /belle"));
        Assert.Equal("""{"reason":"a\\u0000b"}""", AuditLog.EscapeJson("""{"reason":"a\u0000b"}"""));
    }

    [Fact]
    public async Task A_batch_the_database_refuses_is_split_and_only_the_bad_event_is_set_aside()
    {
        var subject = $"audit-{Guid.NewGuid():N}"[..20];
        AuditEvent Event(string path) => new(DateTimeOffset.UtcNow, subject, null, null, null, "test", path, "ok", null);
        // A NUL straight into the writer (past the queue's escaping) is what once stopped the trail.
        var batch = new[] { Event("/belle/a"), Event("/belle/b"), Event("/belle/bad\0"), Event("/belle/c"), Event("/belle/d") };
        var writer = new AuditLog.Writer(fx.Factory.Services.GetRequiredService<AuditLog>(), fx.Factory.Services.GetRequiredService<NpgsqlDataSource>(),
            NullLogger<AuditLog.Writer>.Instance);
        var before = Interlocked.Read(ref AuditLog.Quarantined);
        await writer.WriteAsync(batch, CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(1));
        Assert.Equal(before + 1, Interlocked.Read(ref AuditLog.Quarantined));
        await using var conn = await fx.Factory.Services.GetRequiredService<NpgsqlDataSource>().OpenConnectionAsync();
        var rows = await AuditStore.QueryAsync(conn, null, subject, null, null, 0, 100, CancellationToken.None);
        Assert.Equal(["/belle/a", "/belle/b", "/belle/c", "/belle/d"], rows.Select(r => r.Path).Order());
    }
}

/// <summary>A NUL (or another control character) in any string a request carries is a 400 naming it, never a database error.</summary>
[Collection(CatalogCollection.Name)]
public class NulAnywhereTests(CatalogFixture fx)
{
    private static string CursorOf(string value) =>
        Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(value)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    [Theory]
    [InlineData("GET", "api/v1/namespace/stat?path=/belle/a%00b", null)]
    [InlineData("GET", "api/v1/directories?path=/belle&after={cursor}", null)]
    [InlineData("GET", "api/v1/datasets?under=/belle&after=%00", null)]
    [InlineData("GET", "api/v1/collections?under=/belle%00", null)]
    [InlineData("GET", "api/v1/audit?path=/belle/a%00b", null)]
    [InlineData("GET", "api/v1/audit?subject=a%00b", null)]
    [InlineData("GET", "api/v1/changes?prefix=/belle%00", null)]
    [InlineData("GET", "api/v1/lineage?lfn=/belle/a%00b", null)]
    [InlineData("GET", "api/v1/tokens?subject=a%00b", null)]
    [InlineData("GET", "api/v1/storage-elements/a%01b", null)]
    [InlineData("POST", "api/v1/query", """{"query":"nEvents > 0","under":"/belle","after":"{cursor}"}""")]
    [InlineData("POST", "api/v1/query", """{"query":"name = 'a\u0000b'","under":"/belle"}""")]
    public async Task Is_refused_as_bad_input(string method, string uri, string? body)
    {
        uri = uri.Replace("{cursor}", CursorOf("/belle/a\0b"));
        body = body?.Replace("{cursor}", CursorOf("/belle/a\0b/c"));
        using var http = fx.Factory.CreateClient();
        http.DefaultRequestHeaders.Authorization = new("Bearer", fx.AdminToken);
        using var request = new HttpRequestMessage(new HttpMethod(method), uri);
        if (body is not null) request.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {text}");
    }
}
