using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Catalog.Tests.Infrastructure;

/// <summary>Beyond Catalog:MaxConnections a connection is answered 503 with Retry-After, not dropped.</summary>
[Collection(CatalogCollection.Name)]
public class ConnectionCapTests(CatalogFixture fx)
{
    /// <summary>The value of catalog_connections_refused in a /metrics answer (0 before the first refusal).</summary>
    private static double Refusals(string metrics) => MetricText.Sum(metrics, "catalog_connections_refused");

    [Fact]
    public async Task A_connection_beyond_the_cap_gets_503_with_Retry_After_and_the_next_one_after_a_close_gets_through()
    {
        await using var server = fx.CreateFactory(new Dictionary<string, string?> { ["Catalog:MaxConnections"] = "2" });
        server.UseKestrel(0);
        server.StartServer();
        var address = new Uri(server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        double refusalsBefore;
        using (var probe = await ConnectAsync(address))
            refusalsBefore = Refusals(await AskAsync(probe, "GET /metrics HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n", toEnd: true));

        // Two keep-alive connections that have each been answered hold the two places.
        using var first = await ConnectAsync(address);
        using var second = await ConnectAsync(address);
        Assert.StartsWith("HTTP/1.1 200", await AskAsync(first, "GET /healthz HTTP/1.1\r\nHost: catalog\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 200", await AskAsync(second, "GET /healthz HTTP/1.1\r\nHost: catalog\r\n\r\n"));

        using var third = await ConnectAsync(address);
        var refused = await AskAsync(third, "GET /healthz HTTP/1.1\r\nHost: catalog\r\n\r\n", toEnd: true);
        Assert.StartsWith("HTTP/1.1 503", refused);
        Assert.Contains("Retry-After: 1\r\n", refused);
        Assert.Contains("Connection: close\r\n", refused);
        var problem = JsonDocument.Parse(refused[(refused.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]).RootElement;
        Assert.Equal("OVERLOADED", problem.GetProperty("code").GetString());
        Assert.Contains("Catalog:MaxConnections", problem.GetProperty("detail").GetString());

        // An HTTP/2 client (prior knowledge) would not understand an HTTP/1.1 answer: it is closed without one.
        using var h2 = await ConnectAsync(address);
        Assert.Equal("", await AskAsync(h2, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", toEnd: true));

        // A closed connection frees its place: the server notices the close within moments.
        first.Dispose();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        string answer;
        do
        {
            using var next = await ConnectAsync(address);
            answer = await AskAsync(next, "GET /metrics HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n", toEnd: true);
            if (answer.StartsWith("HTTP/1.1 200", StringComparison.Ordinal)) break;
            await Task.Delay(50);
        } while (DateTime.UtcNow < deadline);
        Assert.StartsWith("HTTP/1.1 200", answer);
        // The refusals above are counted, not just named: the counter grew by them.
        var refusals = Refusals(answer);
        Assert.True(refusals >= refusalsBefore + 1, $"catalog_connections_refused went from {refusalsBefore} to {refusals}:\n{answer}");
    }

    [Fact]
    public async Task One_client_address_gets_its_share_of_connections_and_another_address_still_gets_in()
    {
        await using var server = fx.CreateFactory(new Dictionary<string, string?>
            { ["Catalog:MaxConnections"] = "100", ["Catalog:MaxConnectionsPerAddress"] = "2" });
        server.UseKestrel(0);
        server.StartServer();
        var address = new Uri(server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

        using var first = await ConnectAsync(address, "127.0.0.2");
        using var second = await ConnectAsync(address, "127.0.0.2");
        Assert.StartsWith("HTTP/1.1 200", await AskAsync(first, "GET /healthz HTTP/1.1\r\nHost: catalog\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 200", await AskAsync(second, "GET /healthz HTTP/1.1\r\nHost: catalog\r\n\r\n"));
        using var third = await ConnectAsync(address, "127.0.0.2");
        var refused = await AskAsync(third, "GET /healthz HTTP/1.1\r\nHost: catalog\r\n\r\n", toEnd: true);
        Assert.StartsWith("HTTP/1.1 503", refused);
        Assert.Contains("Catalog:MaxConnectionsPerAddress", refused);

        // Another address is not held up by the first one's sockets.
        using var other = await ConnectAsync(address, "127.0.0.3");
        Assert.StartsWith("HTTP/1.1 200", await AskAsync(other, "GET /healthz HTTP/1.1\r\nHost: catalog\r\n\r\n"));
    }

    [Fact]
    public async Task A_connection_that_sends_nothing_is_closed_and_its_place_freed()
    {
        await using var server = fx.CreateFactory(new Dictionary<string, string?>
        {
            ["Catalog:MaxConnectionsPerAddress"] = "1",
            ["Kestrel:Limits:KeepAliveTimeout"] = "00:00:02",
            ["Kestrel:Limits:RequestHeadersTimeout"] = "00:00:02",
        });
        server.UseKestrel(0);
        server.StartServer();
        var address = new Uri(server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

        using var silent = await ConnectAsync(address, "127.0.0.4");
        var started = DateTime.UtcNow;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        Assert.Equal(0, await silent.GetStream().ReadAsync(new byte[256], timeout.Token)); // closed by the server
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(15));
        // Its place is given back once the server has noticed its own close: wait for that, not for a time.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        string answer;
        do
        {
            using var next = await ConnectAsync(address, "127.0.0.4");
            answer = await AskAsync(next, "GET /healthz HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n", toEnd: true);
            if (answer.StartsWith("HTTP/1.1 200", StringComparison.Ordinal)) break;
            await Task.Delay(50);
        } while (DateTime.UtcNow < deadline);
        Assert.StartsWith("HTTP/1.1 200", answer);
    }

    private static async Task<TcpClient> ConnectAsync(Uri address, string? from = null)
    {
        var tcp = from is null ? new TcpClient() : new TcpClient(new System.Net.IPEndPoint(System.Net.IPAddress.Parse(from), 0));
        await tcp.ConnectAsync(address.Host, address.Port);
        return tcp;
    }

    /// <summary>Sends a request; reads one answer's head and body (keep-alive) or everything until the server closes.</summary>
    private static async Task<string> AskAsync(TcpClient tcp, string request, bool toEnd = false)
    {
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var text = new StringBuilder();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var n = await stream.ReadAsync(buffer, timeout.Token);
            if (n == 0) return text.ToString();
            text.Append(Encoding.UTF8.GetString(buffer, 0, n));
            if (!toEnd && Complete(text.ToString())) return text.ToString();
        }
    }

    private static bool Complete(string answer)
    {
        var head = answer.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (head < 0) return false;
        var length = answer[..head].Split("\r\n").FirstOrDefault(h => h.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
        return length is null
            ? answer.EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal) // chunked: the last chunk arrived
            : answer.Length - head - 4 >= int.Parse(length["Content-Length:".Length..].Trim());
    }
}
