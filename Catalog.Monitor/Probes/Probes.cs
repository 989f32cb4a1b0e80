using System.Diagnostics;
using System.Security.Cryptography;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Grid;
using Microsoft.Extensions.Options;

namespace Catalog.Monitor.Probes;

/// <summary>Runs a probe's steps in order, timing each; the first failed step ends it.</summary>
public sealed class StepRunner(string target)
{
    private readonly List<ProbeStep> steps = [];
    private readonly Stopwatch total = Stopwatch.StartNew();
    private readonly DateTimeOffset at = DateTimeOffset.UtcNow;
    private string? error;

    public bool Failed => error is not null;

    /// <summary>Runs one step unless an earlier one failed; its error text (null: passed).</summary>
    public async Task StepAsync(string name, Func<Task<string?>> step)
    {
        if (Failed) return;
        var clock = Stopwatch.StartNew();
        string? failure;
        try { failure = await step(); }
        catch (Exception e) when (e is not OperationCanceledException || !Stopping)
        {
            failure = e is OperationCanceledException or TimeoutException ? "timed out" : e.Message;
        }
        steps.Add(new ProbeStep(name, failure is null, clock.Elapsed.TotalMilliseconds, failure));
        if (failure is not null) error = $"{name}: {failure}";
    }

    /// <summary>Set by the caller when the service itself is stopping (a canceled step is then not a failure).</summary>
    public bool Stopping { get; set; }

    public ProbeResult Result() => new(target, at, error is null, total.Elapsed.TotalMilliseconds, steps, error);
}

/// <summary>
/// Belle II's SE probe: upload a small file, stat it, read it back, compare its Adler-32 (the
/// SE's own and the bytes read), delete it. Healthy only if every step passes.
/// </summary>
public sealed class SeProbe(IOptions<MonitorOptions> options)
{
    private readonly MonitorOptions o = options.Value;

    public async Task<ProbeResult> RunAsync(StorageElement se, CancellationToken ct)
    {
        var run = new StepRunner(Targets.Se(se.Name));
        var content = RandomNumberGenerator.GetBytes(4096);
        var adler = Adler32.Of(content);
        var local = Path.Combine(Path.GetTempPath(), $"catalog-probe-{Guid.NewGuid():N}");
        var back = local + ".back";
        var pfn = Xrootd.Absolute(Xrootd.Pfn(se.BaseUrl, $"{o.ProbeDirectory.TrimEnd('/')}/{se.Name}/{DateTime.UtcNow:yyyyMMddTHHmmss}-{Guid.NewGuid():N}"));
        var (server, path) = Xrootd.Split(pfn);
        var uploaded = false;
        try
        {
            await File.WriteAllBytesAsync(local, content, ct);
            await run.StepAsync("upload", async () =>
            {
                var (code, output) = await XrdAsync("xrdcp", ["--nopbar", "--posc", local, pfn], ct);
                uploaded = code == 0;
                // Name the server: "[FATAL] Invalid address" alone does not say which.
                return code == 0 ? null : $"{Short(output)} ({server})";
            });
            await run.StepAsync("stat", async () =>
            {
                var (code, output) = await XrdAsync("xrdfs", [server, "stat", path], ct);
                if (code != 0) return Short(output);
                return Xrootd.StatSize(output) is var size && size == content.Length ? null : $"the SE reports {size?.ToString() ?? "no"} size, wrote {content.Length} bytes";
            });
            await run.StepAsync("read", async () =>
            {
                var (code, output) = await XrdAsync("xrdcp", ["--nopbar", "--force", pfn, back], ct);
                if (code != 0) return Short(output);
                var read = Adler32.Of(await File.ReadAllBytesAsync(back, ct));
                return read == adler ? null : $"read back Adler-32 {read}, wrote {adler}";
            });
            await run.StepAsync("checksum", async () =>
            {
                var (code, output) = await XrdAsync("xrdfs", [server, "query", "checksum", path], ct);
                if (code != 0) return Short(output);
                return output.Trim().Split(' ') is ["adler32", var hex] && hex == adler ? null : $"the SE's Adler-32 is '{output.Trim()}', wrote {adler}";
            });
            await run.StepAsync("delete", async () =>
            {
                var (code, output) = await XrdAsync("xrdfs", [server, "rm", path], ct);
                if (code == 0) uploaded = false;
                return code == 0 ? null : Short(output);
            });
        }
        finally
        {
            run.Stopping = ct.IsCancellationRequested;
            // A probe that failed after its upload still removes its file (best effort, not a step).
            if (uploaded && !ct.IsCancellationRequested) await XrdAsync("xrdfs", [server, "rm", path], CancellationToken.None);
            File.Delete(local);
            File.Delete(back);
        }
        return run.Result();
    }

    private async Task<(int Code, string Output)> XrdAsync(string tool, string[] args, CancellationToken ct)
    {
        using var step = CancellationTokenSource.CreateLinkedTokenSource(ct);
        step.CancelAfter(o.StepTimeout);
        // A dead SE fails the step in about two seconds instead of XRootD's minutes of reconnecting.
        var window = Math.Max(1, (int)Math.Min(o.StepTimeout.TotalSeconds / 2, 5));
        try
        {
            return await Tool.RunAsync(tool, args, new Dictionary<string, string>
            {
                ["XRD_CONNECTIONWINDOW"] = window.ToString(), ["XRD_CONNECTIONRETRY"] = "1",
                ["XRD_REQUESTTIMEOUT"] = ((int)o.StepTimeout.TotalSeconds).ToString(), ["XRD_STREAMTIMEOUT"] = ((int)o.StepTimeout.TotalSeconds).ToString(),
            }, step.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { return (-1, $"no answer in {o.StepTimeout.TotalSeconds:0} s"); }
    }

    /// <summary>The last line of a tool's output that says something (XRootD prints the cause last: "[ERROR] Server responded with an error: ...").</summary>
    internal static string Short(string output)
    {
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var line = lines.LastOrDefault(l => l.Contains("ERROR", StringComparison.Ordinal)) ?? lines.LastOrDefault() ?? "failed without a message";
        return line.Length > 300 ? line[..300] : line;
    }
}

/// <summary>The catalog probe: register a probe file, look it up, remove it.</summary>
public sealed class CatalogProbe(CatalogClient catalog, IOptions<MonitorOptions> options)
{
    public async Task<ProbeResult> RunAsync(CancellationToken ct)
    {
        var run = new StepRunner(Targets.Catalog);
        var dir = options.Value.CatalogProbeDirectory.TrimEnd('/');
        var lfn = $"{dir}/{DateTime.UtcNow:yyyyMMddTHHmmss}-{Guid.NewGuid():N}";
        var registered = false;
        try
        {
            await run.StepAsync("register", async () =>
            {
                var answer = await Register(lfn, ct);
                if (answer.Results[0].Error?.Code == ErrorCode.NotFound)
                {
                    // The first probe of a fresh catalog makes the probe directory.
                    await catalog.MakeDirectoryAsync(dir, parents: true, ct: ct);
                    answer = await Register(lfn, ct);
                }
                registered = answer.Results[0].Status == ItemStatus.Created;
                return registered ? null : answer.Results[0].Error?.Message ?? $"answered {answer.Results[0].Status}";
            });
            await run.StepAsync("lookup", async () => (await catalog.GetFileAsync(lfn, ct)).Size == 1 ? null : "the looked-up file has another size");
            await run.StepAsync("remove", async () =>
            {
                var removed = await catalog.RemoveAsync([lfn], ct: ct);
                registered = false;
                return removed.Results[0].Status == RemoveStatus.Removed ? null : removed.Results[0].Error?.Message ?? $"answered {removed.Results[0].Status}";
            });
        }
        finally
        {
            run.Stopping = ct.IsCancellationRequested;
            if (registered && !ct.IsCancellationRequested)
                try { await catalog.RemoveAsync([lfn], ct: CancellationToken.None); } catch (Exception) { /* the next probe's directory still holds it; harmless */ }
        }
        return run.Result();
    }

    private Task<RegisterResponse> Register(string lfn, CancellationToken ct) =>
        catalog.RegisterAsync([new NewFile(lfn, 1, "00020002")], ct: ct);
}

/// <summary>A service's readiness (<c>/readyz</c>: it answers and its database answers).</summary>
public sealed class ServiceProbe(IOptions<MonitorOptions> options)
{
    private static readonly HttpClient Http = new() { Timeout = Timeout.InfiniteTimeSpan };

    public async Task<ProbeResult> RunAsync(string name, Uri url, CancellationToken ct)
    {
        var run = new StepRunner(Targets.Service(name));
        await run.StepAsync("readyz", async () =>
        {
            using var step = CancellationTokenSource.CreateLinkedTokenSource(ct);
            step.CancelAfter(options.Value.StepTimeout);
            try
            {
                using var response = await Http.GetAsync(new Uri(url, "readyz"), step.Token);
                return response.IsSuccessStatusCode ? null : $"answered {(int)response.StatusCode}: {Shorten(await response.Content.ReadAsStringAsync(step.Token))}";
            }
            catch (HttpRequestException e) { return e.Message; }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested) { return $"no answer in {options.Value.StepTimeout.TotalSeconds:0} s"; }
        });
        return run.Result();
    }

    private static string Shorten(string s) => s.Length > 200 ? s[..200] : s;
}

/// <summary>
/// A site's probe: a tiny Slurm job in the site's partition that writes a file to the site's SE,
/// reads its checksum and deletes it (<c>sbatch --wait</c>: queue wait and run time count).
/// </summary>
public sealed class SiteProbe(IOptions<MonitorOptions> options)
{
    private readonly MonitorOptions o = options.Value;

    public async Task<ProbeResult> RunAsync(string site, StorageElement? se, CancellationToken ct)
    {
        var run = new StepRunner(Targets.Site(site));
        var dir = Path.Combine(Path.GetTempPath(), "catalog-site-probe");
        Directory.CreateDirectory(dir);
        var script = Path.Combine(dir, $"{site}-{Guid.NewGuid():N}.sh");
        var output = script + ".out";
        try
        {
            await run.StepAsync("site has an SE", () => Task.FromResult(se is null ? $"no SE of site {site} is registered in the catalog" : null));
            var pfn = se is null ? "" : Xrootd.Absolute(Xrootd.Pfn(se.BaseUrl, $"{o.ProbeDirectory.TrimEnd('/')}/{se.Name}/job-{Guid.NewGuid():N}"));
            await File.WriteAllTextAsync(script, $"""
                #!/bin/bash
                export XRD_CONNECTIONWINDOW=2 XRD_CONNECTIONRETRY=1
                f=$(mktemp); head -c 1024 /dev/urandom > "$f"
                xrdcp --nopbar --posc "$f" '{pfn}' || {"{"} echo "upload to {se?.Name} failed"; rm -f "$f"; exit 3; {"}"}
                xrdfs '{(se is null ? "" : Xrootd.Split(pfn).Server)}' rm '{(se is null ? "" : Xrootd.Split(pfn).Path)}' || {"{"} echo "delete on {se?.Name} failed"; rm -f "$f"; exit 4; {"}"}
                rm -f "$f"; echo ok
                """, ct);
            await run.StepAsync("job", async () =>
            {
                using var step = CancellationTokenSource.CreateLinkedTokenSource(ct);
                step.CancelAfter(o.SiteJobTimeout);
                try
                {
                    var (code, text) = await Tool.RunAsync("sbatch", ["--wait", "--parsable", $"--partition={site}", "--job-name=catalog-site-probe",
                        "--ntasks=1", "--mem=16M", $"--time={Math.Max(1, (int)o.SiteJobTimeout.TotalMinutes)}", $"--output={output}", script],
                        new Dictionary<string, string> { ["SLURM_CONF"] = o.SlurmConf! }, step.Token);
                    if (code == 0) return null;
                    var said = File.Exists(output) ? (await File.ReadAllTextAsync(output, ct)).Trim() : "";
                    return $"the test job failed ({code}): {SeProbe.Short(said.Length > 0 ? said : text)}";
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested) { return $"the test job did not finish in {o.SiteJobTimeout.TotalSeconds:0} s"; }
            });
        }
        finally
        {
            File.Delete(script);
            File.Delete(output);
        }
        return run.Result();
    }
}

/// <summary>The targets' names: "se:KEK-DISK", "catalog", "service:production", "site:KEK".</summary>
public static class Targets
{
    public const string Catalog = "catalog";
    public static string Se(string name) => "se:" + name;
    public static string Service(string name) => "service:" + name;
    public static string Site(string name) => "site:" + name;

    /// <summary>The SE a target switches in the catalog (an SE target's own name), or null.</summary>
    public static string? SeOf(string target) => target.StartsWith("se:", StringComparison.Ordinal) ? target[3..] : null;
}
