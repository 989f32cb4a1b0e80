using System.Diagnostics;
using System.Text.Json.Nodes;
using Catalog.Client;
using Catalog.Contracts;
using Microsoft.Playwright;
using Npgsql;

namespace Catalog.LoadTests;

/// <summary>
/// The monitor against a running ./run.sh (catalog, grid, services), with a monitor process of its
/// own on a database of its own (monitor_bench, dropped afterwards unless --keep 1):
/// 1. dashboard: the overview's first render in Debian's Chromium (navigation to complete view,
///    cold browser cache, median of --runs) for the 24-hour and the 30-day range, beside the same
///    page over an empty history; then with 30 days of one-minute history for 50 sites (jobs by
///    production, site and state; transfers and bytes per link; probe results per SE and site;
///    registrations and catalog size) and its hourly rollup.
/// 2. probe cycle: the monitor's SE probes (five steps each) beside the same five xrdcp/xrdfs calls
///    made directly, and the monitor's CPU seconds per probe cycle of the local grid.
/// </summary>
public static class MonitorBench
{
    public static async Task<int> RunAsync(Options o, string data, int sites, bool keep, bool reuse = false)
    {
        var ports = File.ReadAllLines(Path.Combine(data, "ports")).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var grid = File.ReadAllLines(Path.Combine(data, "grid", "grid.env")).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var admin = new NpgsqlConnectionStringBuilder($"Host=127.0.0.1;Port={ports["PG_PORT"]};Username=postgres;Database=postgres") { Pooling = false };
        var bench = new NpgsqlConnectionStringBuilder(admin.ConnectionString) { Database = "monitor_bench", CommandTimeout = 3600 };
        if (!reuse) await Exec(admin.ConnectionString, "drop database if exists monitor_bench with (force)");
        var port = FreePort();
        var url = new Uri($"http://127.0.0.1:{port}/");
        var psi = new ProcessStartInfo("dotnet", [Path.Combine(data, "monitor-bin", "Catalog.Monitor.dll"), "--urls", url.ToString().TrimEnd('/'),
            "--contentRoot", Path.Combine(data, "monitor-bin")]) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["ConnectionStrings__Monitor"] = bench.ConnectionString;
        psi.Environment["Monitor__CatalogUrl"] = o.Url.ToString();
        psi.Environment["Monitor__CatalogTokenFile"] = Path.Combine(data, "auth", "monitor.token");
        psi.Environment["Monitor__SlurmConf"] = grid["SLURM_CONF"];
        psi.Environment["Monitor__ProbeInterval"] = "00:00:10";
        psi.Environment["Monitor__SampleInterval"] = "01:00:00";
        using var monitor = Process.Start(psi)!;
        monitor.OutputDataReceived += (_, _) => { };
        monitor.ErrorDataReceived += (_, _) => { };
        monitor.BeginOutputReadLine();
        monitor.BeginErrorReadLine();
        var summary = new JsonObject { ["scenario"] = "monitor", ["sites"] = sites, ["runs"] = o.Runs };
        try
        {
            await WaitReadyAsync(url);
            var client = MonitorClient.Create(url, null);
            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = "/usr/bin/chromium", Headless = true,
                Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
            });
            // Warm the server (JIT, connection pool) on the empty history, then the baseline.
            await RenderAsync(browser, url, "6h");
            var empty6 = reuse ? double.NaN : await MedianRenderAsync(browser, url, "6h", o.Runs);
            var empty24 = reuse ? double.NaN : await MedianRenderAsync(browser, url, "24h", o.Runs);
            var empty30 = reuse ? double.NaN : await MedianRenderAsync(browser, url, "30d", o.Runs);
            Console.Error.WriteLine($"empty history: first render (default view, 6h) {empty6:F0} ms, 24h {empty24:F0} ms, 30d {empty30:F0} ms");

            var sw = Stopwatch.StartNew();
            var (series, points) = await GenerateAsync(bench.ConnectionString, sites, reuse);
            Console.Error.WriteLine($"generated {series} series, {points:N0} one-minute points over 30 days and their hourly rollup in {sw.Elapsed.TotalSeconds:F0} s");
            await RenderAsync(browser, url, "6h");
            var full6 = await MedianRenderAsync(browser, url, "6h", o.Runs);
            var full24 = await MedianRenderAsync(browser, url, "24h", o.Runs);
            var full30 = await MedianRenderAsync(browser, url, "30d", o.Runs);
            Console.Error.WriteLine($"30 days x {sites} sites: first render (default view, 6h) {full6:F0} ms ({full6 / empty6:F2}x empty), 24h {full24:F0} ms ({full24 / empty24:F2}x empty), 30d {full30:F0} ms ({full30 / empty30:F2}x empty)");
            var api = Stopwatch.StartNew();
            var jobs = await client.SeriesAsync("jobs", "site", new Dictionary<string, string> { ["state"] = "running" }, DateTimeOffset.UtcNow.AddDays(-30));
            var apiMs = api.Elapsed.TotalMilliseconds;
            Console.Error.WriteLine($"API: running jobs by site over 30 days ({jobs.Lines.Count} lines x {jobs.Times.Count} hours) in {apiMs:F0} ms");
            summary["dashboard"] = new JsonObject
            {
                ["series"] = series, ["points"] = points,
                ["empty_6h_ms"] = empty6, ["full_6h_ms"] = full6, ["empty_24h_ms"] = empty24, ["empty_30d_ms"] = empty30, ["full_24h_ms"] = full24, ["full_30d_ms"] = full30,
                ["ratio_24h"] = full24 / empty24, ["ratio_30d"] = full30 / empty30, ["api_jobs_by_site_30d_ms"] = apiMs,
            };

            // The probe cycle: the monitor's SE probes since it started, beside the same calls made directly.
            var probes = (await client.ProbesAsync("se:KEK-DISK", 1000)).Where(p => p.Ok).Select(p => p.Milliseconds).Order().ToList();
            var direct = new List<double>();
            for (var i = 0; i < Math.Max(5, o.Runs); i++) direct.Add(await DirectProbeAsync($"root://127.0.0.1:{grid["SE_KEK_PORT"]}/"));
            direct.Sort();
            var cpu = CpuSeconds(monitor.Id);
            await Task.Delay(TimeSpan.FromSeconds(60));
            var perCycle = (CpuSeconds(monitor.Id) - cpu) / 6;
            var cycle = (await client.TargetsAsync()).Where(t => t.LastProbe is not null).Max(t => t.LastProbe!.Milliseconds);
            Console.Error.WriteLine($"SE probe (5 steps): median {Median(probes):F0} ms in the monitor ({probes.Count} probes), {Median(direct):F0} ms made directly ({Median(probes) / Median(direct):F2}x); " +
                $"a cycle of the local grid takes {cycle:F0} ms (its slowest target) and {perCycle:F2} CPU-seconds (monitor and its tools), {perCycle / 60 * 100:F1}% of a core at the default 60 s interval");
            summary["probe"] = new JsonObject
            {
                ["monitor_se_probe_ms"] = Median(probes), ["direct_se_probe_ms"] = Median(direct), ["ratio"] = Median(probes) / Median(direct),
                ["cycle_ms"] = cycle, ["cpu_seconds_per_cycle"] = perCycle,
            };
        }
        finally
        {
            monitor.Kill(entireProcessTree: true);
            await monitor.WaitForExitAsync();
            if (!keep) await Exec(admin.ConnectionString, "drop database if exists monitor_bench with (force)");
        }
        if (o.Json is not null) await File.WriteAllTextAsync(o.Json, summary.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    /// <summary>
    /// 30 days of one-minute points for <paramref name="sites"/> sites, shaped like the monitor writes
    /// them: jobs{production,site,state} (a production per 10 sites, 4 states), transfers, bytes and
    /// failures per link (each site to the next), probe time and result per SE and per site, and the
    /// catalog-wide series; then the hourly rollup the sampler keeps.
    /// </summary>
    private static async Task<(long Series, long Points)> GenerateAsync(string connection, int sites, bool reuse)
    {
        await using var conn = new NpgsqlConnection(connection);
        await conn.OpenAsync();
        async Task Run(string sql) { await using var cmd = new NpgsqlCommand(sql, conn) { CommandTimeout = 3600 }; await cmd.ExecuteNonQueryAsync(); }
        if (reuse) return await CountAsync(conn);
        await Run($"""
            insert into series (name, labels)
            select 'jobs', jsonb_build_object('production', 'prod' || (s / 10), 'site', 'SITE' || lpad(s::text, 2, '0'), 'state', st)
            from generate_series(1, {sites}) s, unnest(array['running', 'submitted', 'registered', 'failed']) st
            union all
            select n, jsonb_build_object('source', 'SITE' || lpad(s::text, 2, '0') || '-DISK', 'destination', 'SITE' || lpad((s % {sites} + 1)::text, 2, '0') || '-DISK')
            from generate_series(1, {sites}) s, unnest(array['transfers', 'transfer_bytes', 'transfer_failures']) n
            union all
            select n, jsonb_build_object('target', k || 'SITE' || lpad(s::text, 2, '0') || case when k = 'se:' then '-DISK' else '' end)
            from generate_series(1, {sites}) s, unnest(array['probe_ms', 'probe_ok']) n, unnest(array['se:', 'site:']) k
            union all
            select n, '{"{}"}'::jsonb from unnest(array['registered', 'catalog_files', 'catalog_bytes', 'api_latency_ms', 'cache_hit_ratio', 'api_requests']) n
            on conflict do nothing
            """);
        await Run("""
            insert into point (series_id, t, v)
            select s.id, t, case when s.name = 'probe_ok' then (random() > 0.01)::int else round((50 + 40 * sin(extract(epoch from t) / 3600.0 + s.id)) * (1 + random()))::float8 end
            from series s, generate_series(date_trunc('minute', now()) - interval '30 days', date_trunc('minute', now()) - interval '1 minute', interval '1 minute') t
            on conflict do nothing
            """);
        await Run("""
            insert into point_hour (series_id, t, v, vmax, n)
            select series_id, date_trunc('hour', t), avg(v), max(v), count(*) from point group by 1, 2
            on conflict (series_id, t) do update set v = excluded.v, vmax = excluded.vmax, n = excluded.n
            """);
        foreach (var table in new[] { "point", "point_hour", "series" }) await Run($"vacuum analyze {table}");
        return await CountAsync(conn);
    }

    private static async Task<(long Series, long Points)> CountAsync(NpgsqlConnection conn)
    {
        await using var count = new NpgsqlCommand("select (select count(*) from series), (select count(*) from point)", conn);
        await using var reader = await count.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    private static async Task<double> MedianRenderAsync(IBrowser browser, Uri url, string range, int runs)
    {
        var times = new List<double>();
        for (var i = 0; i < runs; i++) times.Add(await RenderAsync(browser, url, range));
        times.Sort();
        return Median(times);
    }

    /// <summary>A cold first view (new browser context): ms from navigation start until the page says it is complete.</summary>
    private static async Task<double> RenderAsync(IBrowser browser, Uri url, string range)
    {
        await using var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1800 } });
        var page = await context.NewPageAsync();
        await page.GotoAsync($"{url}?range={range}");
        await page.WaitForFunctionAsync("() => document.body.dataset.renderedAt !== undefined || document.body.dataset.rendered === 'error'", null,
            new PageWaitForFunctionOptions { Timeout = 60_000, PollingInterval = 10 });
        var at = await page.EvaluateAsync<string>("() => document.body.dataset.renderedAt ?? 'error'");
        if (at == "error") throw new InvalidOperationException("the dashboard answered an error");
        return double.Parse(at, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The five calls of an SE probe, made directly: upload, stat, read back, checksum, delete.</summary>
    private static async Task<double> DirectProbeAsync(string se)
    {
        var local = Path.GetTempFileName();
        await File.WriteAllBytesAsync(local, System.Security.Cryptography.RandomNumberGenerator.GetBytes(4096));
        var pfn = Grid.Xrootd.Absolute($"{se}monitor/bench/{Guid.NewGuid():N}");
        var (server, path) = Grid.Xrootd.Split(pfn);
        var sw = Stopwatch.StartNew();
        await Grid.Tool.RunAsync("xrdcp", ["--nopbar", "--posc", local, pfn], null, default);
        await Grid.Tool.RunAsync("xrdfs", [server, "stat", path], null, default);
        await Grid.Tool.RunAsync("xrdcp", ["--nopbar", "--force", pfn, local + ".back"], null, default);
        await Grid.Tool.RunAsync("xrdfs", [server, "query", "checksum", path], null, default);
        await Grid.Tool.RunAsync("xrdfs", [server, "rm", path], null, default);
        var ms = sw.Elapsed.TotalMilliseconds;
        File.Delete(local);
        File.Delete(local + ".back");
        return ms;
    }

    /// <summary>A process's CPU seconds, its finished children's included (/proc/PID/stat utime, stime, cutime, cstime).</summary>
    private static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11]) + long.Parse(fields[12]) + long.Parse(fields[13]) + long.Parse(fields[14])) / 100.0;
    }

    private static double Median(IReadOnlyList<double> sorted) => sorted.Count == 0 ? double.NaN : sorted[sorted.Count / 2];

    private static async Task Exec(string connection, string sql)
    {
        await using var conn = new NpgsqlConnection(connection);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task WaitReadyAsync(Uri url)
    {
        using var http = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(2) };
        for (var i = 0; i < 600; i++)
        {
            try { if ((await http.GetAsync("readyz")).IsSuccessStatusCode) return; } catch (HttpRequestException) { } catch (TaskCanceledException) { }
            await Task.Delay(100);
        }
        throw new TimeoutException($"the bench monitor at {url} was not ready in 60 s");
    }

    private static int FreePort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        var port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
