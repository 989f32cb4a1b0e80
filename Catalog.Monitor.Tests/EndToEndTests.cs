using Catalog.Client;
using Catalog.Contracts;
using Microsoft.Playwright;

namespace Catalog.Monitor.Tests;

/// <summary>
/// A small production and a rule run on the grid while the monitor watches; then an SE fails. The
/// monitor's series must count what the services counted, the SE must be banned and switched off
/// in the catalog and come back, and the dashboard (in Debian's Chromium) must show all of it.
/// </summary>
[Collection(MonitorCollection.Name)]
public class EndToEndTests(MonitorGrid grid)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(180);
    private static string Artifacts => Path.Combine(MonitorGrid.RepoRoot, "TestResults", "dashboard");

    [Fact]
    public async Task Series_count_what_the_services_did_a_failing_SE_is_banned_and_the_dashboard_shows_it()
    {
        await grid.WaitAllActiveAsync(Patience);
        var start = DateTimeOffset.UtcNow.AddMinutes(-1);

        // A production at KEK, then a rule copying its output to DESY.
        var name = $"mon{Guid.NewGuid():N}"[..16];
        var dataset = $"/belle/MC/t/{name}/mdst";
        await grid.Production.CreateAsync(new ProductionSpec(name, ProductionKind.Simulation, dataset, Release: "release-08-01-00", GlobalTag: "main_2024",
            McEventType: "mixed", Campaign: "MC15ri", BeamEnergy: "4S", Experiment: 1003, RunLow: 10, RunHigh: 12,
            Events: 6000, EventsPerJob: 1000, Sites: ["KEK"], OutputSize: 32768));
        var status = await grid.WaitAsync(name, s => s.State == ProductionState.Done, Patience);
        var rule = await grid.Transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "DESY-DISK"));
        await WaitAsync(async () => (await grid.Transfer.GetRuleAsync(rule.Id)).Rule.State == RuleState.Ok, "the rule is OK");

        // Jobs: the last one-minute value per state is the production service's own count.
        await WaitAsync(async () =>
        {
            var jobs = await grid.Monitor.SeriesAsync("jobs", "state", new Dictionary<string, string> { ["production"] = name }, start);
            var latest = jobs.Lines.ToDictionary(l => l.Label, l => l.Values.LastOrDefault(v => v is not null));
            return status.ByState.Where(s => s.Value > 0).All(s => latest.GetValueOrDefault(s.Key) == s.Value);
        }, "the jobs series matches the production's counts");
        // Transfers and bytes: the one-minute counts add up to the transfer service's per-link totals.
        var links = await grid.Transfer.LinkStatsAsync(start);
        var kekDesy = links.Links.Single(l => l.Source == "KEK-DISK" && l.Destination == "DESY-DISK");
        Assert.Equal(6, kekDesy.Files);
        await WaitAsync(async () =>
        {
            var link = new Dictionary<string, string> { ["source"] = "KEK-DISK", ["destination"] = "DESY-DISK" };
            var files = (await grid.Monitor.SeriesAsync("transfers", labels: link, from: start)).Lines.SelectMany(l => l.Values).Sum(v => v ?? 0);
            var bytes = (await grid.Monitor.SeriesAsync("transfer_bytes", labels: link, from: start)).Lines.SelectMany(l => l.Values).Sum(v => v ?? 0);
            return files == kekDesy.Files && bytes == kekDesy.Bytes;
        }, "the transfer series add up to the link's totals");
        // Registrations: the six outputs, counted from the change feed (the monitor's own probe files are not).
        await WaitAsync(async () => (await grid.Monitor.SeriesAsync("registered", from: start)).Lines.SelectMany(l => l.Values).Sum(v => v ?? 0) == 6,
            "the registration series counts the six outputs");
        var size = await grid.Monitor.SeriesAsync("catalog_files", from: start);
        Assert.True(size.Lines.Single().Values.Last(v => v is not null) >= 6);
        // The same behind Prometheus: the monitor's /metrics, and every service serves its own.
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync(new Uri(grid.MonitorUrl, "metrics"));
        Assert.Contains("monitor_transfers_total{source=\"KEK-DISK\",destination=\"DESY-DISK\"} 6", metrics);
        Assert.Contains($"monitor_jobs{{production=\"{name}\",site=\"KEK\",state=\"registered\"}} 6", metrics);
        foreach (var service in new[] { grid.ProductionUrl, grid.TransferUrl })
            Assert.Contains("http_request_duration_seconds", await http.GetStringAsync(new Uri(service, "metrics")));
        // Every module's OpenAPI document declares the catalog's bearer token.
        foreach (var service in new[] { grid.ProductionUrl, grid.TransferUrl, grid.MonitorUrl })
        {
            var document = System.Text.Json.Nodes.JsonNode.Parse(await http.GetStringAsync(new Uri(service, "openapi/v1.json")))!;
            Assert.Equal("bearer", (string?)document["components"]?["securitySchemes"]?["bearer"]?["scheme"]);
            Assert.NotNull(document["security"]?[0]?["bearer"]);
        }

        // A production at PNNL, defined (checked, planned) while PNNL-DISK takes writes, held for now.
        var failover = $"fo{Guid.NewGuid():N}"[..16];
        await grid.Production.CreateAsync(new ProductionSpec(failover, ProductionKind.Simulation, $"/belle/MC/t/{failover}/mdst", Release: "release-08-01-00",
            GlobalTag: "main_2024", McEventType: "mixed", Campaign: "MC15ri", BeamEnergy: "4S", Experiment: 1003, RunLow: 10, RunHigh: 12,
            Events: 2000, EventsPerJob: 1000, Sites: ["PNNL"], OutputSize: 32768, Hold: true));

        // An SE fails: Degraded, then Banned and write-disabled in the catalog.
        grid.StopSe("PNNL-DISK");
        try
        {
            await grid.WaitTargetAsync("se:PNNL-DISK", t => t.Status == TargetStatus.Banned && t.SwitchedOff, TimeSpan.FromSeconds(60));
            var path = (await grid.Monitor.HistoryAsync("se:PNNL-DISK")).Reverse().Select(c => (c.From, c.To)).ToList();
            Assert.Equal([(TargetStatus.Active, TargetStatus.Degraded), (TargetStatus.Degraded, TargetStatus.Banned)], path.TakeLast(2));
            var banned = await grid.Catalog.GetStorageElementAsync("PNNL-DISK");
            Assert.False(banned.WriteEnabled);
            var refused = await grid.Catalog.RegisterAsync([new NewFile($"/belle/Raw/t/b{Guid.NewGuid():N}.root", 10, "00000001", Replicas: [new NewReplica("PNNL-DISK")])]);
            Assert.Equal(ErrorCode.StorageElementWriteDisabled, refused.Results[0].Error?.Code);
            var overview = await grid.Monitor.OverviewAsync();
            Assert.Equal("red", overview.Alerts[0].Severity);
            Assert.Contains(overview.Alerts, a => a.Severity == "red" && a.Subject == "se:PNNL-DISK");
            Assert.Contains("monitor_target_status{target=\"se:PNNL-DISK\"} 2", await http.GetStringAsync(new Uri(grid.MonitorUrl, "metrics")));

            // The production system fails over: the held production's jobs at PNNL, released now, write to
            // another SE (the service's SE list is read again once older than GridFixture.StorageElementRefresh).
            await Task.Delay(Catalog.Production.Tests.GridFixture.StorageElementRefresh + TimeSpan.FromSeconds(1));
            await grid.Production.ResumeAsync(failover);
            await grid.WaitAsync(failover, s => s.State == ProductionState.Done, Patience);
            Assert.All((await grid.Production.JobsAsync(failover)).Jobs, j => Assert.NotEqual("PNNL-DISK", j.OutputSe));

            await DashboardAsync(name);
        }
        finally { await grid.StartGridAsync(); }

        // Back: Probing (still switched off), then Active and switched on again.
        await grid.WaitTargetAsync("se:PNNL-DISK", t => t.Status == TargetStatus.Active && !t.SwitchedOff, TimeSpan.FromSeconds(60));
        Assert.True((await grid.Catalog.GetStorageElementAsync("PNNL-DISK")).WriteEnabled);
        var recovery = (await grid.Monitor.HistoryAsync("se:PNNL-DISK")).Reverse().Select(c => c.To).TakeLast(2);
        Assert.Equal([TargetStatus.Probing, TargetStatus.Active], recovery);
    }

    /// <summary>The dashboard in Chromium: charts drawn with data, the banned SE red, drill-down pages reached by their links; a screenshot of each.</summary>
    private async Task DashboardAsync(string production)
    {
        Directory.CreateDirectory(Artifacts);
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium", Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1800 } });
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);

        // From the catalog's front page to the dashboard.
        await page.GotoAsync(grid.CatalogUrl.ToString());
        Assert.Equal("answers", await page.InnerTextAsync("#postgres"));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Artifacts, "catalog-front.png"), FullPage = true });
        await page.ClickAsync("#monitor");
        await Rendered(page);
        await page.GotoAsync(grid.MonitorUrl + "?range=6h");
        await Rendered(page);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Artifacts, "overview.png"), FullPage = true });
        // Red first: the banned SE leads the list of what is wrong now, and its tile is red.
        Assert.Equal("red", await page.GetAttributeAsync("#alerts li:first-child", "data-severity"));
        Assert.Contains("PNNL-DISK", await page.InnerTextAsync("#alerts li.red"));
        var tile = page.Locator("[data-target='se:PNNL-DISK']");
        Assert.Equal("banned", await tile.GetAttributeAsync("data-status"));
        Assert.Equal("rgb(198, 40, 40)", await tile.EvaluateAsync<string>("e => getComputedStyle(e).backgroundColor"));
        Assert.Equal("active", await page.GetAttributeAsync("[data-target='se:KEK-DISK']", "data-status"));
        // Real charts (uPlot canvases) with points in them.
        foreach (var chart in new[] { "jobsByState", "registrations", "transferRate", "catalogSize", "probeTimes", "apiLatency" })
        {
            Assert.True(await page.Locator($"#{chart} canvas").CountAsync() > 0, $"{chart} drew no chart");
            Assert.True(int.Parse(await page.GetAttributeAsync($"#{chart}", "data-points") ?? "0") > 0, $"{chart} has no data");
        }

        // Drill-down: the SE's page, from its tile.
        await tile.ClickAsync();
        await Rendered(page);
        Assert.Equal("se:PNNL-DISK", await page.InnerTextAsync("#title"));
        Assert.Contains("banned", (await page.InnerTextAsync("#history")).ToLowerInvariant());
        Assert.True(int.Parse(await page.GetAttributeAsync("#latency", "data-points") ?? "0") > 0);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Artifacts, "se.png"), FullPage = true });

        // The production's page, from the overview's list of productions.
        await page.GoBackAsync();
        await Rendered(page);
        await page.ClickAsync($"#productions a:text('{production}')");
        await Rendered(page);
        Assert.Contains(production, await page.InnerTextAsync("#title"));
        Assert.True(int.Parse(await page.GetAttributeAsync("#byState", "data-points") ?? "0") > 0);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Artifacts, "production.png"), FullPage = true });

        // The link's page (both directions).
        await page.GotoAsync(grid.MonitorUrl + "link.html?link=KEK-DISK->DESY-DISK&range=6h");
        await Rendered(page);
        Assert.True(int.Parse(await page.GetAttributeAsync("#files", "data-points") ?? "0") > 0);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Artifacts, "link.png"), FullPage = true });
        Assert.Empty(errors);
    }

    private static async Task Rendered(IPage page)
    {
        await page.WaitForFunctionAsync("() => document.body.dataset.rendered !== undefined", null, new PageWaitForFunctionOptions { Timeout = 15_000 });
        Assert.NotEqual("error", await page.EvaluateAsync<string>("() => document.body.dataset.rendered"));
    }

    private async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not in {Patience.TotalSeconds} s: {what}\n{grid.Tail("monitor.log")}");
            await Task.Delay(500);
        }
    }
}
