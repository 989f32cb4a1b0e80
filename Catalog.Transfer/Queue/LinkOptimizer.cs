using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Catalog.Transfer.Queue;

/// <summary>
/// Per-link concurrency, one direction at a time, in the manner of FTS3's optimizer: a link starts
/// at <see cref="TransferOptions.InitialLinkConcurrency"/>; after each window of finished copies it
/// halves on errors (success under 90%), grows by one while the link's throughput keeps up (at least
/// 95% of the previous window's), steps back by one when more streams made it clearly slower (under
/// 80%), and holds in between (one window's rate is noisy). Each
/// decision is kept with its reason (shown in the link statistics) and survives restarts.
/// </summary>
public sealed class LinkOptimizer(NpgsqlDataSource db, IOptions<TransferOptions> options, ILogger<LinkOptimizer> log)
{
    private sealed class Link(int limit)
    {
        public int Limit = limit, Active, Ok, Failed;
        public long Bytes;
        public DateTime WindowStart = DateTime.UtcNow;
        public double LastThroughput, FailureRate;
        public string? Note;
    }

    private readonly Dictionary<(string, string), Link> links = new();
    private TransferOptions O => options.Value;

    public async Task LoadAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<(string Source, string Destination, int Concurrency, string? Note)>(
            new CommandDefinition("select source, destination, concurrency, note from link", cancellationToken: ct));
        lock (links)
            foreach (var r in rows)
                links[(r.Source, r.Destination)] = new Link(Math.Clamp(r.Concurrency, 1, O.MaxLinkConcurrency)) { Note = r.Note };
    }

    private Link Get(string source, string destination)
    {
        if (!links.TryGetValue((source, destination), out var link))
            links[(source, destination)] = link = new Link(O.InitialLinkConcurrency) { Note = "starting low" };
        return link;
    }

    /// <summary>A slot on the link, or false when it runs as many copies as it may.</summary>
    public bool TryAcquire(string source, string destination)
    {
        lock (links)
        {
            var link = Get(source, destination);
            if (link.Active >= link.Limit) return false;
            link.Active++;
            return true;
        }
    }

    /// <summary>Lower is better: recent failures of the link first, then how full it is.</summary>
    public double Rank(string source, string destination)
    {
        lock (links)
        {
            var link = Get(source, destination);
            return link.FailureRate * 10 + (double)link.Active / link.Limit;
        }
    }

    public (int Active, int Limit, string? Note) State(string source, string destination)
    {
        lock (links) { var l = Get(source, destination); return (l.Active, l.Limit, l.Note); }
    }

    /// <summary>Gives a slot back unused (the claim was lost, or the service stops mid-copy).</summary>
    public void Return(string source, string destination)
    {
        lock (links) Get(source, destination).Active--;
    }

    /// <summary>Gives the slot back with the copy's outcome; a full window makes a decision.</summary>
    public void Release(string source, string destination, bool ok, long bytes)
    {
        (int Limit, string Note)? decision = null;
        lock (links)
        {
            var link = Get(source, destination);
            link.Active--;
            if (ok) { link.Ok++; link.Bytes += bytes; } else link.Failed++;
            link.FailureRate = link.FailureRate * 0.8 + (ok ? 0 : 0.2);
            if (link.Ok + link.Failed >= Math.Max(4, link.Limit * 2)) decision = Decide(link);
        }
        if (decision is { } d) _ = PersistAsync(source, destination, d.Limit, d.Note);
    }

    private (int, string) Decide(Link link)
    {
        var seconds = Math.Max(0.001, (DateTime.UtcNow - link.WindowStart).TotalSeconds);
        var throughput = link.Bytes / seconds;
        var success = (double)link.Ok / (link.Ok + link.Failed);
        var was = link.Limit;
        if (success < 0.9)
        {
            link.Limit = Math.Max(1, link.Limit / 2);
            link.Note = $"halved from {was}: {success:P0} of the last {link.Ok + link.Failed} copies succeeded";
        }
        else if (link.LastThroughput == 0 || throughput >= link.LastThroughput * 0.95)
        {
            link.Limit = Math.Min(O.MaxLinkConcurrency, link.Limit + 1);
            link.Note = link.Limit == was ? $"at its maximum ({was}); {Rate(throughput)}" : $"raised from {was}: {Rate(throughput)} (was {Rate(link.LastThroughput)})";
        }
        else if (throughput < link.LastThroughput * 0.8)
        {
            link.Limit = Math.Max(1, link.Limit - 1);
            link.Note = $"lowered from {was}: {Rate(throughput)}, less than {Rate(link.LastThroughput)} with fewer streams";
        }
        else link.Note = $"kept at {was}: {Rate(throughput)}, about {Rate(link.LastThroughput)} before (within the noise)";
        link.LastThroughput = throughput;
        link.Ok = link.Failed = 0;
        link.Bytes = 0;
        link.WindowStart = DateTime.UtcNow;
        return (link.Limit, link.Note);
    }

    private static string Rate(double bytesPerSecond) => $"{bytesPerSecond / 1e6:0.0} MB/s";

    private async Task PersistAsync(string source, string destination, int limit, string note)
    {
        try
        {
            await using var conn = await db.OpenConnectionAsync();
            await conn.ExecuteAsync("""
                insert into link (source, destination, concurrency, note) values (@source, @destination, @limit, @note)
                on conflict (source, destination) do update set concurrency = excluded.concurrency, note = excluded.note, updated = now()
                """, new { source, destination, limit, note });
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            log.LogWarning(e, "Could not keep the concurrency of {Source} -> {Destination}", source, destination);
        }
    }
}
