using System.Diagnostics;
using System.Net.Http.Json;
using Catalog.Client;
using Catalog.Contracts;

namespace Catalog.Production.Tests;

/// <summary>
/// The whole system as ./run.sh starts it, on free loopback ports under one folder: PostgreSQL
/// and Redis (scripts/test-services.sh), the local grid (scripts/grid.sh: three XRootD SEs, Slurm),
/// the catalog, the production and the transfer service as processes of their own, so tests can
/// stop the catalog (an outage) or kill a service at a named point. The grid test assemblies
/// (production, transfer, monitor) compile this file and start their own grid; the monitor's
/// starts the monitor too (<see cref="WithMonitor"/>).
/// </summary>
public class GridFixture : IAsyncLifetime
{
    public static string RepoRoot { get; } = FindRepoRoot();
    private static readonly string Configuration = AppContext.BaseDirectory.Contains("/Debug/") ? "Debug" : "Release";

    public string Dir { get; } = Path.Combine(Path.GetTempPath(), $"catalog-grid-test-{Environment.ProcessId}");
    public string Spool => Path.Combine(Dir, "spool");
    public Dictionary<string, string> Grid { get; } = new();
    public string AdminToken { get; private set; } = "";
    public CatalogClient Catalog { get; private set; } = null!;
    public ProductionClient Production { get; private set; } = null!;
    public TransferClient Transfer { get; private set; } = null!;
    public Uri CatalogUrl { get; private set; } = null!;
    public Uri ProductionUrl { get; private set; } = null!;
    public Uri TransferUrl { get; private set; } = null!;
    public Uri MonitorUrl { get; private set; } = null!;
    public MonitorClient Monitor { get; private set; } = null!;
    private string postgres = "";

    /// <summary>The transfer service's own database, for tests that check what it stored.</summary>
    public string TransferDatabase => postgres.Replace("Database=catalog", "Database=transfer");
    private Process? catalogProcess, productionProcess, transferProcess, monitorProcess;

    /// <summary>Whether the monitor runs too (probing every second, banning after 2 failures, recovering after 2 passes).</summary>
    protected virtual bool WithMonitor => false;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Dir);
        var lines = (await RunAsync("bash", [Path.Combine(RepoRoot, "scripts/test-services.sh"), "start", Path.Combine(Dir, "services")])).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        postgres = lines[^2];
        var redis = lines[^1];
        await RunAsync("bash", [Path.Combine(RepoRoot, "scripts/grid.sh"), "start", Path.Combine(Dir, "grid")]);
        foreach (var line in File.ReadAllLines(Path.Combine(Dir, "grid", "grid.env")))
            if (line.Split('=', 2) is [var k, var v]) Grid[k] = v;

        CatalogUrl = new Uri($"http://127.0.0.1:{FreePort()}/");
        ProductionUrl = new Uri($"http://127.0.0.1:{FreePort()}/");
        TransferUrl = new Uri($"http://127.0.0.1:{FreePort()}/");
        if (WithMonitor) MonitorUrl = new Uri($"http://127.0.0.1:{FreePort()}/");
        var api = CatalogEnv(redis);
        await RunAsync("dotnet", [CatalogDll, "migrate", "--contentRoot", Path.GetDirectoryName(CatalogDll)!], api);
        AdminToken = (await RunAsync("dotnet", [CatalogDll, "token", "issue", "--subject", "admin", "--role", "admin", "--scope", "storage.read:/",
            "--scope", "storage.modify:/", "--lifetime", "1d", "--contentRoot", Path.GetDirectoryName(CatalogDll)!], api)).Trim();
        var robot = (await RunAsync("dotnet", [CatalogDll, "token", "issue", "--subject", "production", "--role", "producer", "--scope", "storage.read:/belle",
            "--scope", "storage.modify:/belle", "--lifetime", "1d", "--contentRoot", Path.GetDirectoryName(CatalogDll)!], api)).Trim();
        await File.WriteAllTextAsync(Path.Combine(Dir, "production.token"), robot);
        File.SetUnixFileMode(Path.Combine(Dir, "production.token"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var mover = (await RunAsync("dotnet", [CatalogDll, "token", "issue", "--subject", "transfer", "--role", "data-manager", "--scope", "storage.read:/",
            "--scope", "storage.modify:/", "--lifetime", "1d", "--contentRoot", Path.GetDirectoryName(CatalogDll)!], api)).Trim();
        await File.WriteAllTextAsync(Path.Combine(Dir, "transfer.token"), mover);
        File.SetUnixFileMode(Path.Combine(Dir, "transfer.token"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        // Every copy the transfer service runs goes through this witness, which outlives a killed service like xrdcp does.
        await File.WriteAllTextAsync(Path.Combine(Dir, "copy-witness.sh"), $$"""
            #!/bin/bash
            dst="${@: -1}"
            echo "start $dst" >> '{{Path.Combine(Dir, "copies.log")}}'
            xrdcp "$@"; rc=$?
            echo "end $rc $dst" >> '{{Path.Combine(Dir, "copies.log")}}'
            exit $rc
            """);
        File.SetUnixFileMode(Path.Combine(Dir, "copy-witness.sh"), (UnixFileMode)0b111_101_101);
        await StartCatalogAsync();
        Catalog = CatalogClient.Create(new CatalogClientOptions { BaseAddress = CatalogUrl, Token = AdminToken });
        foreach (var (site, tier, region) in new[] { ("KEK", "0", "asia"), ("DESY", "1", "europe"), ("PNNL", "1", "america") })
            await Catalog.PutStorageElementAsync($"{site}-DISK", new StorageElementSpec(site, "root", $"root://127.0.0.1:{Grid[$"SE_{site}_PORT"]}/",
                Attributes: new Dictionary<string, string> { ["tier"] = tier, ["region"] = region }));
        await RunAsync("dotnet", [ProductionDll, "setup", "/belle/MC", "--contentRoot", Path.GetDirectoryName(ProductionDll)!],
            new Dictionary<string, string>(ProductionEnv(null)) { ["CATALOG_TOKEN"] = AdminToken });
        await StartProductionAsync();
        Production = ProductionClient.Create(ProductionUrl, AdminToken);
        await StartTransferAsync();
        Transfer = TransferClient.Create(TransferUrl, AdminToken);
        if (WithMonitor)
        {
            var watcher = (await RunAsync("dotnet", [CatalogDll, "token", "issue", "--subject", "monitor", "--role", "data-manager", "--scope", "storage.read:/",
                "--scope", "storage.modify:/", "--lifetime", "1d", "--contentRoot", Path.GetDirectoryName(CatalogDll)!], api)).Trim();
            await File.WriteAllTextAsync(Path.Combine(Dir, "monitor.token"), watcher);
            File.SetUnixFileMode(Path.Combine(Dir, "monitor.token"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
            await StartMonitorAsync();
            Monitor = MonitorClient.Create(MonitorUrl, AdminToken);
        }
    }

    private string MonitorDll => Path.Combine(RepoRoot, "Catalog.Monitor", "bin", Configuration, "net10.0", "Catalog.Monitor.dll");

    public async Task StartMonitorAsync()
    {
        monitorProcess = Start(MonitorDll, MonitorUrl, new()
        {
            ["ConnectionStrings__Monitor"] = postgres.Replace("Database=catalog", "Database=monitor"),
            ["Monitor__CatalogUrl"] = CatalogUrl.ToString(),
            ["Monitor__CatalogTokenFile"] = Path.Combine(Dir, "monitor.token"),
            ["Monitor__ProductionUrl"] = ProductionUrl.ToString(),
            ["Monitor__TransferUrl"] = TransferUrl.ToString(),
            ["Monitor__SlurmConf"] = Grid["SLURM_CONF"],
            ["Monitor__ProbeInterval"] = "00:00:01",
            ["Monitor__SampleInterval"] = "00:00:01",
            ["Monitor__StepTimeout"] = "00:00:05",
            ["Monitor__SiteJobTimeout"] = "00:01:00",
            ["Monitor__BanAfter"] = "2",
            ["Monitor__RecoverAfter"] = "2",
        }, "monitor.log");
        await WaitReadyAsync(MonitorUrl, "readyz", monitorProcess);
    }

    public async Task StopMonitorAsync()
    {
        if (monitorProcess is { HasExited: false }) { monitorProcess.Kill(entireProcessTree: true); await monitorProcess.WaitForExitAsync(); }
    }

    private string CatalogDll => Path.Combine(RepoRoot, "Catalog.Api", "bin", Configuration, "net10.0", "Catalog.Api.dll");
    private string TransferDll => Path.Combine(RepoRoot, "Catalog.Transfer", "bin", Configuration, "net10.0", "Catalog.Transfer.dll");
    private string ProductionDll => Path.Combine(RepoRoot, "Catalog.Production", "bin", Configuration, "net10.0", "Catalog.Production.dll");

    private Dictionary<string, string> CatalogEnv(string? redis = null)
    {
        var env = new Dictionary<string, string>
        {
            ["ConnectionStrings__Catalog"] = postgres,
            ["Catalog__Auth__KeyFile"] = Path.Combine(Dir, "jwks.json"),
        };
        // The catalog's front page links the dashboard where there is one.
        if (MonitorUrl is not null) env["Catalog__MonitorUrl"] = MonitorUrl.ToString();
        if (redis is not null) { env["ConnectionStrings__Redis"] = redis; File.WriteAllText(Path.Combine(Dir, "redis"), redis); }
        else env["ConnectionStrings__Redis"] = File.ReadAllText(Path.Combine(Dir, "redis"));
        return env;
    }

    /// <summary>How old the production service's SE list may get here (30 s in service): a test waits this long, not half a minute, for an SE change to reach it.</summary>
    public static readonly TimeSpan StorageElementRefresh = TimeSpan.FromSeconds(2);

    private Dictionary<string, string> ProductionEnv(string? fault) => new()
    {
        ["ConnectionStrings__Production"] = postgres.Replace("Database=catalog", "Database=production"),
        ["Production__CatalogUrl"] = CatalogUrl.ToString(),
        ["Production__CatalogTokenFile"] = Path.Combine(Dir, "production.token"),
        ["Production__PublicUrl"] = ProductionUrl.ToString(),
        ["Production__SpoolDirectory"] = Spool,
        ["Production__SubmitInterval"] = "00:00:00.500",
        ["Production__WatchInterval"] = "00:00:01",
        ["Production__LostAfter"] = "00:00:20",
        ["Production__StorageElementRefresh"] = StorageElementRefresh.ToString(),
        ["Production__RegistrationPatience"] = "00:03:00",
        ["Production__Fault"] = fault ?? "",
        ["SLURM_CONF"] = Grid["SLURM_CONF"],
    };

    private Dictionary<string, string> TransferEnv(string? fault) => new()
    {
        ["ConnectionStrings__Transfer"] = postgres.Replace("Database=catalog", "Database=transfer"),
        ["Transfer__CatalogUrl"] = CatalogUrl.ToString(),
        ["Transfer__CatalogTokenFile"] = Path.Combine(Dir, "transfer.token"),
        ["Transfer__CopyCommand"] = Path.Combine(Dir, "copy-witness.sh"),
        ["Transfer__PollInterval"] = "00:00:00.250",
        ["Transfer__Backoff"] = "00:00:01",
        ["Transfer__MaxAttempts"] = "3",
        ["Transfer__StuckRetry"] = "00:00:05",
        ["Transfer__Fault"] = fault ?? "",
    };

    /// <summary>Starts the transfer service; with <paramref name="fault"/>, it kills itself at that point of the copy protocol.</summary>
    public async Task StartTransferAsync(string? fault = null)
    {
        transferProcess = Start(TransferDll, TransferUrl, TransferEnv(fault), "transfer.log");
        await WaitReadyAsync(TransferUrl, "readyz", transferProcess);
    }

    public Task<bool> TransferExitedAsync(TimeSpan within) =>
        transferProcess!.WaitForExitAsync(new CancellationTokenSource(within).Token).ContinueWith(t => t.IsCompletedSuccessfully);

    public async Task StopTransferAsync()
    {
        if (transferProcess is { HasExited: false }) { transferProcess.Kill(entireProcessTree: true); await transferProcess.WaitForExitAsync(); }
    }

    /// <summary>Every copy the transfer service ran, from the witness: (destination PFN, exit code or null while it ran or when it was killed).</summary>
    public IReadOnlyList<(string Destination, int? Exit)> Copies()
    {
        var log = Path.Combine(Dir, "copies.log");
        if (!File.Exists(log)) return [];
        var copies = new List<(string, int?)>();
        foreach (var line in File.ReadAllLines(log))
        {
            var parts = line.Split(' ', 3);
            if (parts[0] == "start") copies.Add((parts[1], null));
            else if (parts[0] == "end" && copies.FindLastIndex(c => c.Item1 == parts[2] && c.Item2 is null) is var i and >= 0) copies[i] = (parts[2], int.Parse(parts[1]));
        }
        return copies;
    }

    /// <summary>The <c>catalog</c> command in-process, pointed at this grid's catalog and services with the admin token.</summary>
    public async Task<(int Code, string Out, string Err)> RunCliAsync(params string[] args)
    {
        var (output, error) = (new StringWriter(), new StringWriter());
        var env = new Dictionary<string, string?>
        {
            ["CATALOG_URL"] = CatalogUrl.ToString(), ["CATALOG_TOKEN"] = AdminToken, ["CATALOG_PRODUCTION_URL"] = ProductionUrl.ToString(),
            ["CATALOG_TRANSFER_URL"] = TransferUrl.ToString(), ["CATALOG_MONITOR_URL"] = MonitorUrl?.ToString(), ["CATALOG_CONFIG"] = null, ["HOME"] = Dir,
        };
        var console = new global::Catalog.Cli.CliConsole { Out = output, Error = error, In = Stream.Null, Environment = k => env.GetValueOrDefault(k) };
        var code = await global::Catalog.Cli.CatalogCli.RunAsync(args, console);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>Starts (or restarts) the catalog server on its port.</summary>
    public async Task StartCatalogAsync()
    {
        catalogProcess = Start(CatalogDll, CatalogUrl, CatalogEnv(), "catalog.log");
        await WaitReadyAsync(CatalogUrl, "healthz", catalogProcess);
    }

    /// <summary>Stops the catalog (an outage): nothing answers on its port until <see cref="StartCatalogAsync"/>.</summary>
    public async Task StopCatalogAsync()
    {
        catalogProcess!.Kill(entireProcessTree: true);
        await catalogProcess.WaitForExitAsync();
    }

    /// <summary>Starts the production service; with <paramref name="fault"/>, it kills itself at that point of the submission protocol.</summary>
    public async Task StartProductionAsync(string? fault = null)
    {
        productionProcess = Start(ProductionDll, ProductionUrl, ProductionEnv(fault), "production.log");
        await WaitReadyAsync(ProductionUrl, "readyz", productionProcess);
    }

    public Task<bool> ProductionExitedAsync(TimeSpan within) =>
        productionProcess!.WaitForExitAsync(new CancellationTokenSource(within).Token).ContinueWith(t => t.IsCompletedSuccessfully);

    public async Task StopProductionAsync()
    {
        if (productionProcess is { HasExited: false }) { productionProcess.Kill(entireProcessTree: true); await productionProcess.WaitForExitAsync(); }
    }

    /// <summary>Stops one SE's XRootD server (it refuses every upload until <see cref="StartGridAsync"/>).</summary>
    public void StopSe(string name)
    {
        var root = File.Exists(Path.Combine(Dir, "grid", "se.location")) ? File.ReadAllText(Path.Combine(Dir, "grid", "se.location")).Trim() : Path.Combine(Dir, "grid", "se");
        var pid = int.Parse(File.ReadAllText(Path.Combine(root, name, "run", "xrootd.pid")).Trim());
        using var p = Process.GetProcessById(pid);
        p.Kill();
        p.WaitForExit();
    }

    public string SeData(string name)
    {
        var root = File.Exists(Path.Combine(Dir, "grid", "se.location")) ? File.ReadAllText(Path.Combine(Dir, "grid", "se.location")).Trim() : Path.Combine(Dir, "grid", "se");
        return Path.Combine(root, name, "data");
    }

    public Task StartGridAsync() => RunAsync("bash", [Path.Combine(RepoRoot, "scripts/grid.sh"), "start", Path.Combine(Dir, "grid")]);

    /// <summary>Every run of every job so far, from the payload's own log: (production id, index, attempt).</summary>
    public IReadOnlyList<(long Production, int Index, int Attempt)> Runs() =>
        Directory.Exists(Path.Combine(Spool, "runs"))
            ? Directory.GetFiles(Path.Combine(Spool, "runs")).Select(f => Path.GetFileName(f).Split('_')).Select(p => (long.Parse(p[0]), int.Parse(p[1]), int.Parse(p[2]))).ToList()
            : [];

    /// <summary>How many times Slurm was given an array of this name (queue and completion log).</summary>
    public async Task<int> SlurmSubmissionsNamedAsync(string prefix)
    {
        var queued = await RunAsync("squeue", ["--noheader", "--array", "--format=%F %j"], new() { ["SLURM_CONF"] = Grid["SLURM_CONF"] });
        var arrays = queued.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).Where(p => p[1].StartsWith(prefix)).Select(p => p[0]).ToHashSet();
        var log = Path.Combine(Dir, "grid", "slurm", "jobcomp.log");
        if (File.Exists(log))
            foreach (var line in File.ReadAllLines(log))
                if (line.Contains($" Name={prefix}") && System.Text.RegularExpressions.Regex.Match(line, @"ArrayJobId=(\d+)") is { Success: true } m) arrays.Add(m.Groups[1].Value);
        return arrays.Count;
    }

    public async Task<ProductionStatus> WaitAsync(string name, Func<ProductionStatus, bool> until, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        ProductionStatus status;
        while (!until(status = await Production.StatusAsync(name)))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{name} did not get there in {within.TotalSeconds} s: {System.Text.Json.JsonSerializer.Serialize(status, CatalogJson.Options)}\n{Tail("production.log")}");
            await Task.Delay(500);
        }
        return status;
    }

    public string Tail(string log) => File.Exists(Path.Combine(Dir, log)) ? string.Join('\n', File.ReadLines(Path.Combine(Dir, log)).TakeLast(30)) : "";

    public async Task DisposeAsync()
    {
        await StopMonitorAsync();
        await StopTransferAsync();
        await StopProductionAsync();
        if (catalogProcess is { HasExited: false }) await StopCatalogAsync();
        await RunAsync("bash", [Path.Combine(RepoRoot, "scripts/grid.sh"), "stop", Path.Combine(Dir, "grid")]);
        await RunAsync("bash", [Path.Combine(RepoRoot, "scripts/test-services.sh"), "stop", Path.Combine(Dir, "services")]);
        // CATALOG_GRID_LOGS=DIR keeps the services' logs for a look after the run.
        if (Environment.GetEnvironmentVariable("CATALOG_GRID_LOGS") is { Length: > 0 } keep)
        {
            Directory.CreateDirectory(keep);
            foreach (var log in Directory.GetFiles(Dir, "*.log")) File.Copy(log, Path.Combine(keep, Path.GetFileName(log)), overwrite: true);
        }
        try { Directory.Delete(Dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private Process Start(string dll, Uri url, Dictionary<string, string> env, string log)
    {
        var psi = new ProcessStartInfo("bash", ["-c", $"exec dotnet '{dll}' --urls '{url.ToString().TrimEnd('/')}' --contentRoot '{Path.GetDirectoryName(dll)}' >> '{Path.Combine(Dir, log)}' 2>&1"]);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        return Process.Start(psi)!;
    }

    private static async Task WaitReadyAsync(Uri url, string probe, Process process)
    {
        using var http = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(2) };
        for (var i = 0; i < 300; i++)
        {
            if (process.HasExited) throw new InvalidOperationException($"{url} exited with {process.ExitCode} before it was ready");
            try { if ((await http.GetAsync(probe)).IsSuccessStatusCode) return; } catch (HttpRequestException) { } catch (TaskCanceledException) { }
            await Task.Delay(100);
        }
        throw new TimeoutException($"{url} was not ready in 30 s");
    }

    public static async Task<string> RunAsync(string file, string[] args, Dictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? []) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {await stderr}{await stdout}");
        return await stdout;
    }

    private static int FreePort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        var port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Catalog.sln"))) return dir.FullName;
        throw new InvalidOperationException("Catalog.sln not found above the test binaries");
    }
}

[CollectionDefinition(Name)]
public sealed class GridCollection : ICollectionFixture<GridFixture>
{
    public const string Name = "grid";
}
