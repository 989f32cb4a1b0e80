namespace Catalog.Production.Jobs;

/// <summary>The XRootD client tools, as the jobs use them.</summary>
public static class Xrootd
{
    /// <summary>The PFN of a path on an SE: its base URL and the path (root://host:port//belle/...).</summary>
    public static string Pfn(string baseUrl, string path) => baseUrl.TrimEnd('/') + "/" + path;

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

    private static (string Server, string Path) Split(string pfn)
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
