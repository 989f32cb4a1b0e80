using System.Globalization;
using System.Text;
using System.Text.Json;
using Catalog.Contracts;

namespace Catalog.Cli;

/// <summary>Plain-text tables and JSON for the commands' answers.</summary>
internal static class Output
{
    private static readonly JsonSerializerOptions Json = new(CatalogJson.Options) { WriteIndented = true };

    public static void WriteJson<T>(TextWriter writer, T value) =>
        writer.WriteLine(JsonSerializer.Serialize(value, Json));

    /// <summary>One JSON document per line: how large streams (listings, lookups) are printed with --json.</summary>
    public static void WriteJsonLine<T>(TextWriter writer, T value) =>
        writer.WriteLine(JsonSerializer.Serialize(value, CatalogJson.Options));

    /// <summary>Aligned columns; numbers right-aligned. Headers are printed in upper case.</summary>
    public static void WriteTable(TextWriter writer, IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows, params int[] rightAligned) =>
        WriteTable(writer, headers, rows, header: true, rightAligned);

    /// <summary>As above; without <paramref name="header"/> for the later chunks of a long stream.</summary>
    public static void WriteTable(TextWriter writer, IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows, bool header, params int[] rightAligned)
    {
        var all = rows.ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => r[i].Length))).ToArray();
        if (header) WriteRow(writer, headers.Select(h => h.ToUpperInvariant()).ToList(), widths, rightAligned);
        foreach (var row in all) WriteRow(writer, row, widths, rightAligned);
    }

    private static void WriteRow(TextWriter writer, IReadOnlyList<string> cells, int[] widths, int[] rightAligned)
    {
        var line = new StringBuilder();
        for (var i = 0; i < cells.Count; i++)
        {
            if (i > 0) line.Append("  ");
            var last = i == cells.Count - 1;
            line.Append(rightAligned.Contains(i) ? cells[i].PadLeft(widths[i]) : last ? cells[i] : cells[i].PadRight(widths[i]));
        }
        writer.WriteLine(line.ToString().TrimEnd());
    }

    /// <summary>1536 → "1.5 KiB"; exact figures are in --json.</summary>
    public static string Bytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1) { value /= 1024; unit++; }
        return unit == 0 ? $"{bytes} B" : value.ToString(value < 10 ? "0.0" : "0", CultureInfo.InvariantCulture) + " " + units[unit];
    }

    public static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>What a command that changed an entry says it is now: <c>/belle/x: directory, owner alice, group belle, mode 755</c>.</summary>
    public static string Changed(Entry e) =>
        $"{e.Path}: {(e.Type == EntryType.Directory ? "directory" : "file")}, owner {e.Owner}, group {e.Group}, mode {Octal(e.Mode)}";

    /// <summary>The <c>ls -l</c> mode column: <c>drwxr-xr-x</c>.</summary>
    public static string Mode(EntryType type, int mode)
    {
        var s = new StringBuilder(type == EntryType.Directory ? "d" : "-");
        for (var shift = 6; shift >= 0; shift -= 3)
        {
            s.Append((mode >> shift & 4) != 0 ? 'r' : '-');
            s.Append((mode >> shift & 2) != 0 ? 'w' : '-');
            s.Append((mode >> shift & 1) != 0 ? 'x' : '-');
        }
        return s.ToString();
    }

    /// <summary>Permission bits in octal, as chmod takes them (755; the server's JSON carries the number, 493).</summary>
    public static string Octal(int mode) => Convert.ToString(mode & 0xFFF, 8);

    public static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);

    public static string Error(ItemError? e) => e is null ? "" : $"{ErrorCodes.ToWire(e.Code)}: {e.Message}";
}

/// <summary>
/// Progress on standard error: on a terminal a one-line bar redrawn at most ten times a second;
/// otherwise (a job's log, a pipe) one line every <paramref name="every"/>, so a long run shows it is
/// alive without filling the log.
/// </summary>
internal sealed class ProgressBar(TextWriter writer, bool terminal, long? total, string unit, TimeSpan every)
{
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    // Null before the first draw: MinValue here made now - _lastDraw overflow on the first report,
    // so registering from a terminal crashed after storing the first batch.
    private TimeSpan? _lastDraw;

    public void Report(long done, bool final = false)
    {
        var now = _clock.Elapsed;
        if (!terminal)
        {
            // Lines only while running: the command's own summary ends the run.
            if (final || now - (_lastDraw ?? TimeSpan.Zero) < every) return;
            _lastDraw = now;
            writer.WriteLine($"{Output.Count(done)}{(total is > 0 ? $"/{Output.Count(total.Value)}" : "")} {unit} after {now:hh\\:mm\\:ss} ({done / Math.Max(now.TotalSeconds, 0.001):N0}/s)");
            return;
        }
        if (!final && _lastDraw is { } last && now - last < TimeSpan.FromMilliseconds(100)) return;
        _lastDraw = now;
        var rate = done / Math.Max(now.TotalSeconds, 0.001);
        string bar;
        if (total is > 0)
        {
            var fraction = Math.Min(1.0, (double)done / total.Value);
            var filled = (int)(fraction * 30);
            bar = $"[{new string('#', filled)}{new string(' ', 30 - filled)}] {fraction,4:P0} {Output.Count(done)}/{Output.Count(total.Value)}";
        }
        else
        {
            bar = Output.Count(done);
        }
        writer.Write($"\r{bar} {unit}  {rate,8:N0}/s  {now:mm\\:ss}");
        if (final) writer.WriteLine();
    }
}
