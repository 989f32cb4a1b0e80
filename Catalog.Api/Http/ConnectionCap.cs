using Catalog.Api.Hosting;
using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Diagnostics.Metrics;
using System.Text;
using System.Text.Json.Nodes;
using Catalog.Api.Errors;
using Catalog.Contracts;
using Microsoft.AspNetCore.Connections;

namespace Catalog.Api.Http;

/// <summary>
/// Caps the open connections of each endpoint at <c>Catalog:MaxConnections</c>, and those of each
/// client address at <c>Catalog:MaxConnectionsPerAddress</c>. Kestrel's own
/// limit closes an excess connection without a word, which a grid job's client can only take for
/// a network fault; here the excess connection reads its request head, gets the same 503 with
/// <c>Retry-After</c> that a full queue or pool answers, and is closed. It runs before HTTP
/// parsing, so a refusal costs no request pipeline, and counts in <c>catalog_connections_refused</c>.
/// </summary>
public static class ConnectionCap
{
    public const string MeterName = "Catalog.Connections";
    private static readonly Meter Meter = new(MeterName);
    private static readonly Counter<long> Refused = Meter.CreateCounter<long>("refused", description: "Connections answered 503 because Catalog:MaxConnections were open");

    /// <summary>Most bytes of a refused request read before answering (the head; a body is not waited for).</summary>
    private const int MaxHeadBytes = 16 * 1024;

    public static void AddCatalogConnectionCap(this WebApplicationBuilder builder) =>
        builder.WebHost.ConfigureKestrel((context, kestrel) =>
        {
            // Kestrel:Limits from settings (request body size, timeouts). Idle connections are closed
            // soon: with Kestrel's 130 s keep-alive, a few clients holding silent sockets could fill
            // the connection cap (defaults in appsettings.json: keep-alive 15 s, request head 10 s).
            context.Configuration.GetSection("Kestrel:Limits").Bind(kestrel.Limits);
            var defaults = new CatalogOptions();
            var max = context.Configuration.GetValue($"{CatalogOptions.Section}:{nameof(CatalogOptions.MaxConnections)}", defaults.MaxConnections);
            var perAddress = context.Configuration.GetValue($"{CatalogOptions.Section}:{nameof(CatalogOptions.MaxConnectionsPerAddress)}", defaults.MaxConnectionsPerAddress);
            kestrel.ConfigureEndpointDefaults(endpoint => Cap(endpoint, max, perAddress));
        });

    /// <summary>
    /// The endpoint's cap, and each client address's share of it: a few clients holding sockets
    /// open cannot fill the server's places for everyone else.
    /// </summary>
    private static void Cap(Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions endpoint, int max, int perAddress)
    {
        var (full, fullForAddress) = (Refusal(max, nameof(CatalogOptions.MaxConnections)), Refusal(perAddress, nameof(CatalogOptions.MaxConnectionsPerAddress)));
        var open = 0;
        var byAddress = new ConcurrentDictionary<IPAddress, int>();
        endpoint.Use(next => async connection =>
        {
            var address = (connection.RemoteEndPoint as IPEndPoint)?.Address;
            try
            {
                var total = Interlocked.Increment(ref open);
                var mine = address is null ? 0 : byAddress.AddOrUpdate(address, 1, (_, n) => n + 1);
                if (total > max) await RefuseAsync(connection, full);
                else if (mine > perAddress) await RefuseAsync(connection, fullForAddress);
                else await next(connection);
            }
            finally
            {
                Interlocked.Decrement(ref open);
                // Dropped at zero, so the table holds only addresses with connections open.
                if (address is not null && byAddress.AddOrUpdate(address, 0, (_, n) => n - 1) == 0)
                    byAddress.TryRemove(new KeyValuePair<IPAddress, int>(address, 0));
            }
        });
    }

    /// <summary>
    /// Reads the request head first: closing a socket with unread bytes makes the kernel send a
    /// reset, which can destroy the answer before the client reads it.
    /// </summary>
    private static async Task RefuseAsync(ConnectionContext connection, byte[] refusal)
    {
        Refused.Add(1);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        var input = connection.Transport.Input;
        var http2 = false;
        try
        {
            while (true)
            {
                var read = await input.ReadAsync(timeout.Token);
                http2 = StartsWith(read.Buffer, "PRI * HTTP/2.0"u8);
                var done = HeadEnds(read.Buffer) || read.IsCompleted || read.Buffer.Length >= MaxHeadBytes;
                input.AdvanceTo(read.Buffer.Start, read.Buffer.End);
                if (done) break;
            }
        }
        catch (OperationCanceledException) { }
        // An HTTP/2 client (prior knowledge, no TLS) would not read an HTTP/1.1 answer: it is only closed.
        if (!http2) await connection.Transport.Output.WriteAsync(refusal);
        await connection.Transport.Output.CompleteAsync();
    }

    private static bool StartsWith(ReadOnlySequence<byte> buffer, ReadOnlySpan<byte> prefix) =>
        buffer.Length >= prefix.Length && new SequenceReader<byte>(buffer).IsNext(prefix);

    private static bool HeadEnds(ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        return reader.TryReadTo(out ReadOnlySequence<byte> _, "\r\n\r\n"u8);
    }

    /// <summary>The whole answer, built once: a ProblemDetails body like every other 503 of the catalog.</summary>
    private static byte[] Refusal(int max, string setting)
    {
        var body = new JsonObject
        {
            ["type"] = "https://tools.ietf.org/html/rfc9110#section-15.6.4",
            ["title"] = ErrorMapping.TitleOf(503),
            ["status"] = 503,
            ["detail"] = setting == nameof(CatalogOptions.MaxConnections)
                ? $"the server has its most connections open ({max}, Catalog:{setting}); retry after {ErrorMapping.RetryAfterSeconds} s"
                : $"this client address has its most connections open ({max}, Catalog:{setting}); close some or retry after {ErrorMapping.RetryAfterSeconds} s",
            ["code"] = ErrorCode.Overloaded.ToWire(),
        }.ToJsonString();
        var bodyBytes = Encoding.UTF8.GetByteCount(body);
        return Encoding.UTF8.GetBytes(
            "HTTP/1.1 503 Service Unavailable\r\n" +
            $"Retry-After: {ErrorMapping.RetryAfterSeconds}\r\n" +
            "Content-Type: application/problem+json\r\n" +
            $"Content-Length: {bodyBytes}\r\n" +
            "Connection: close\r\n\r\n" + body);
    }
}
