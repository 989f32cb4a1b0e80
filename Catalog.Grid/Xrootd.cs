namespace Catalog.Grid;

/// <summary>The XRootD client tools, as the jobs use them.</summary>
public static class Xrootd
{
    /// <summary>The PFN of a path on an SE: its base URL and the path (root://host:port//belle/...).</summary>
    public static string Pfn(string baseUrl, string path) => baseUrl.TrimEnd('/') + "/" + path;

    /// <summary>
    /// A root:// URL whose path is absolute (root://host:port//belle/...): the catalog's default PFN
    /// (base URL + LFN) has one slash, which a plain read accepts but a third-party copy refuses
    /// ("Opening relative path ... is disallowed").
    /// </summary>
    public static string Absolute(string pfn)
    {
        if (!pfn.StartsWith("root://", StringComparison.Ordinal)) return pfn;
        var slash = pfn.IndexOf('/', "root://".Length);
        return slash < 0 || pfn.AsSpan(slash).StartsWith("//") ? pfn : pfn.Insert(slash, "/");
    }

    /// <summary>
    /// Uploads with the checksum verified by the SE (--cksum) and the file removed there if the copy
    /// fails (--posc). An existing copy with the same checksum counts as uploaded (a re-run job).
    /// </summary>
    public static async Task<(bool Ok, string Error)> UploadAsync(string local, string pfn, string adler32, CancellationToken ct)
    {
        var (code, output) = await RunAsync("xrdcp", ["--nopbar", "--posc", "--cksum", $"adler32:{adler32}", local, pfn], ct);
        if (code == 0) return (true, "");
        if (await ChecksumAsync(pfn, ct) is { } existing)
        {
            if (existing == adler32) return (true, "");
            // A different copy under the name no catalog entry points at yet (a broken earlier upload): replace it.
            (code, output) = await RunAsync("xrdcp", ["--nopbar", "--posc", "--force", "--cksum", $"adler32:{adler32}", local, pfn], ct);
            if (code == 0) return (true, "");
        }
        return (false, output.Trim());
    }

    public static async Task<string?> ChecksumAsync(string pfn, CancellationToken ct)
    {
        var (server, path) = Split(pfn);
        var (code, output) = await RunAsync("xrdfs", [server, "query", "checksum", path], ct);
        return code == 0 && output.Trim().Split(' ') is ["adler32", var hex] ? hex : null;
    }

    /// <summary>
    /// A third-party copy: the destination SE pulls from the source (<c>xrdcp --tpc only</c>, no
    /// fallback through this host). An existing destination file fails the copy rather than being
    /// overwritten; the caller decides what a file already there means.
    /// </summary>
    public static async Task<(bool Ok, string Error)> ThirdPartyCopyAsync(string source, string destination, CancellationToken ct, string tool = "xrdcp")
    {
        var (code, output) = await RunAsync(tool, ["--nopbar", "--tpc", "only", source, destination], ct);
        return (code == 0, output.Trim());
    }

    /// <summary>The size of a file on an SE, or null when it is not there (or the SE does not answer).</summary>
    public static async Task<long?> SizeAsync(string pfn, CancellationToken ct)
    {
        var (server, path) = Split(pfn);
        var (code, output) = await RunAsync("xrdfs", [server, "stat", path], ct);
        return code == 0 ? StatSize(output) : null;
    }

    /// <summary>The size in the output of <c>xrdfs stat</c> ("Size:   4096"), or null when it says none.</summary>
    public static long? StatSize(string output)
    {
        foreach (var line in output.Split('\n'))
            if (line.Trim().StartsWith("Size:", StringComparison.Ordinal) && long.TryParse(line.Trim()[5..].Trim(), out var size)) return size;
        return null;
    }

    /// <summary>
    /// Every file under <paramref name="directory"/> of an SE with its size (<c>xrdfs ls -R -l</c>),
    /// or null when the SE does not answer.
    /// </summary>
    public static async Task<List<(string Path, long Size, DateTime Modified)>?> ListAsync(string server, string directory, CancellationToken ct)
    {
        var (code, output) = await RunAsync("xrdfs", [server, "ls", "-R", "-l", directory], ct);
        if (code != 0) return output.Contains("No such file", StringComparison.Ordinal) ? [] : null;
        var files = new List<(string, long, DateTime)>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // "-rw-r--r-- xrootd xrootd 1000 2026-12-04 19:14:17 belle/Raw/t/x.bin": size, date, time, then the
            // path (relative to the root when listing "/"; names have no spaces). Directories start with 'd'.
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 5 || !parts[0].StartsWith('-') || !long.TryParse(parts[^4], out var size)) continue;
            var path = parts[^1].StartsWith('/') ? parts[^1] : "/" + parts[^1];
            files.Add((path, size, DateTime.TryParse($"{parts[^3]} {parts[^2]}", System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal, out var t) ? t : DateTime.UtcNow));
        }
        return files;
    }

    public static async Task<bool> RemoveAsync(string pfn, CancellationToken ct)
    {
        var (server, path) = Split(pfn);
        return (await RunAsync("xrdfs", [server, "rm", path], ct)).Code == 0;
    }

    /// <summary>Reads a replica to nowhere: the processing jobs' input step.</summary>
    public static async Task<(bool Ok, string Error)> ReadAsync(string pfn, CancellationToken ct)
    {
        var (code, output) = await RunAsync("xrdcp", ["--nopbar", "--force", pfn, "/dev/null"], ct);
        return (code == 0, output.Trim());
    }

    /// <summary>A PFN's server (root://host:port) and path on it.</summary>
    public static (string Server, string Path) Split(string pfn)
    {
        var uri = new Uri(pfn);
        return ($"{uri.Scheme}://{uri.Authority}", "/" + uri.AbsolutePath.TrimStart('/'));
    }

    // An SE that does not answer fails the step in seconds, not after XRootD's default of five
    // connection retries over 120 s windows (ten minutes before a failover could start).
    private static readonly Dictionary<string, string> Patience = new()
    {
        ["XRD_CONNECTIONWINDOW"] = "5", ["XRD_CONNECTIONRETRY"] = "2", ["XRD_REQUESTTIMEOUT"] = "120",
    };

    private static Task<(int Code, string Output)> RunAsync(string tool, string[] args, CancellationToken ct) => Tool.RunAsync(tool, args, Patience, ct);
}
