using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using HdrHistogram;

namespace Catalog.LoadTests;

/// <summary>
/// Per-second throughput and latency of a run, and the server's memory (its <c>/metrics</c>
/// working set) sampled each second, for the Markdown report and its plot.
/// </summary>
public sealed class Timeline : IAsyncDisposable
{
    private readonly ConcurrentDictionary<int, LongConcurrentHistogram> seconds = new();
    private readonly ConcurrentDictionary<int, double> memory = new();
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private readonly CancellationTokenSource stop = new();
    private readonly Task sampler;

    public Timeline(HttpClient http) => sampler = SampleMemoryAsync(http);

    /// <summary>One operation that ended now and took <paramref name="microseconds"/>.</summary>
    public void Record(long microseconds) =>
        seconds.GetOrAdd((int)clock.Elapsed.TotalSeconds, _ => new LongConcurrentHistogram(1, TimeSpan.FromMinutes(10).Ticks / 10, 2))
            .RecordValue(Math.Clamp(microseconds, 1, TimeSpan.FromMinutes(10).Ticks / 10));

    /// <summary>The largest server working set seen, in MB (0 if /metrics was not reachable).</summary>
    public double MaxServerMemoryMb => memory.IsEmpty ? 0 : memory.Values.Max();

    public IReadOnlyList<(int Second, long Count, double P50Ms, double P99Ms, double MemoryMb)> Rows() =>
        Enumerable.Range(0, seconds.IsEmpty ? 0 : seconds.Keys.Max() + 1).Select(s => seconds.TryGetValue(s, out var h)
            ? (s, h.TotalCount, h.GetValueAtPercentile(50) / 1000.0, h.GetValueAtPercentile(99) / 1000.0, memory.GetValueOrDefault(s))
            : (s, 0L, 0.0, 0.0, memory.GetValueOrDefault(s))).ToList();

    private async Task SampleMemoryAsync(HttpClient http)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            do
            {
                try
                {
                    var text = await http.GetStringAsync("metrics", stop.Token);
                    var line = text.Split('\n').FirstOrDefault(l => l.StartsWith("process_working_set_bytes ", StringComparison.Ordinal));
                    if (line is not null) memory[(int)clock.Elapsed.TotalSeconds] = double.Parse(line.Split(' ')[1], CultureInfo.InvariantCulture) / (1 << 20);
                }
                catch (HttpRequestException) { }
            } while (await timer.WaitForNextTickAsync(stop.Token));
        }
        catch (OperationCanceledException) { }
    }

    public async ValueTask DisposeAsync()
    {
        stop.Cancel();
        await sampler;
    }
}

/// <summary>Writes a run's JSON (--json PATH), and beside it PATH.md with a table and PATH.svg with the plot.</summary>
public static class Report
{
    /// <summary>Counts by name as a JSON object (errors by kind, retries by reason).</summary>
    public static JsonObject Counts(IEnumerable<KeyValuePair<string, int>> counts) =>
        new(counts.Select(e => KeyValuePair.Create(e.Key, (JsonNode?)e.Value)));

    public static async Task WriteAsync(string? jsonPath, JsonObject summary, Timeline? timeline, string title)
    {
        if (!summary.ContainsKey("retried_by_reason")) summary["retried_by_reason"] = Counts(Options.Retries);
        if (!Options.Retries.IsEmpty)
            Console.Error.WriteLine($"warning: requests were retried ({string.Join(", ", Options.Retries.Select(e => $"{e.Key}: {e.Value}"))}); the figures include those waits");
        var json = summary.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(json);
        if (jsonPath is null) return;
        await File.WriteAllTextAsync(jsonPath, json);
        var stem = Path.ChangeExtension(jsonPath, null);
        var md = new StringBuilder();
        md.AppendLine($"# {title}").AppendLine();
        md.AppendLine($"Command: `dotnet run -c Release --project Catalog.LoadTests -- {string.Join(' ', Environment.GetCommandLineArgs().Skip(1))}`").AppendLine();
        md.AppendLine("| field | value |").AppendLine("|---|---|");
        foreach (var (key, value) in summary) md.AppendLine($"| {key} | {value?.ToJsonString().Trim('"')} |");
        if (timeline is not null)
        {
            var rows = timeline.Rows();
            await File.WriteAllTextAsync(stem + ".svg", Svg(rows, title));
            md.AppendLine().AppendLine($"![throughput and latency over time]({Path.GetFileName(stem)}.svg)").AppendLine();
            md.AppendLine("| second | completed | p50 ms | p99 ms | server memory MB |").AppendLine("|---|---|---|---|---|");
            foreach (var r in rows) md.AppendLine($"| {r.Second} | {r.Count} | {r.P50Ms:F1} | {r.P99Ms:F1} | {r.MemoryMb:F0} |");
        }
        await File.WriteAllTextAsync(stem + ".md", md.ToString());
        Console.WriteLine($"report: {stem}.md");
    }

    /// <summary>Completions per second (left axis, blue), p99 latency (right axis, red), server memory (dotted, scaled to the p99 axis in MB).</summary>
    private static string Svg(IReadOnlyList<(int Second, long Count, double P50Ms, double P99Ms, double MemoryMb)> rows, string title)
    {
        const int w = 800, h = 360, left = 70, right = 70, top = 40, bottom = 40;
        var n = Math.Max(1, rows.Count - 1);
        var maxCount = Math.Max(1, rows.Count == 0 ? 1 : rows.Max(r => r.Count));
        var maxMs = Math.Max(1, rows.Count == 0 ? 1 : rows.Max(r => Math.Max(r.P99Ms, r.MemoryMb)));
        string X(int s) => (left + (w - left - right) * s / (double)n).ToString("F1", CultureInfo.InvariantCulture);
        string Y(double v, double max) => (top + (h - top - bottom) * (1 - v / max)).ToString("F1", CultureInfo.InvariantCulture);
        string Line(Func<(int Second, long Count, double P50Ms, double P99Ms, double MemoryMb), double> f, double max) =>
            string.Join(' ', rows.Select(r => $"{X(r.Second)},{Y(f(r), max)}"));
        var svg = new StringBuilder();
        svg.AppendLine($"""<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">""");
        svg.AppendLine($"""<rect width="{w}" height="{h}" fill="white"/><text x="{w / 2}" y="20" text-anchor="middle" font-size="14">{System.Security.SecurityElement.Escape(title)}</text>""");
        svg.AppendLine($"""<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="black"/><line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="black"/><line x1="{w - right}" y1="{top}" x2="{w - right}" y2="{h - bottom}" stroke="black"/>""");
        svg.AppendLine($"""<text x="{left - 5}" y="{top}" text-anchor="end" fill="steelblue">{maxCount}/s</text><text x="{left - 5}" y="{h - bottom}" text-anchor="end">0</text>""");
        svg.AppendLine($"""<text x="{w - right + 5}" y="{top}" fill="firebrick">{maxMs:F0} ms</text><text x="{w - right + 5}" y="{h - bottom}">0</text>""");
        svg.AppendLine($"""<text x="{w / 2}" y="{h - 10}" text-anchor="middle">seconds (0-{rows.Count - 1}); blue: completed per second; red: p99 latency; grey dotted: server memory (MB, right axis)</text>""");
        svg.AppendLine($"""<polyline fill="none" stroke="steelblue" stroke-width="2" points="{Line(r => r.Count, maxCount)}"/>""");
        svg.AppendLine($"""<polyline fill="none" stroke="firebrick" stroke-width="2" points="{Line(r => r.P99Ms, maxMs)}"/>""");
        svg.AppendLine($"""<polyline fill="none" stroke="grey" stroke-dasharray="4 3" points="{Line(r => r.MemoryMb, maxMs)}"/>""");
        svg.AppendLine("</svg>");
        return svg.ToString();
    }
}
