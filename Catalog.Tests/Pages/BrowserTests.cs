using Catalog.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace Catalog.Tests.Pages;

/// <summary>
/// The catalog's pages in a real browser (Debian's Chromium, driven by Playwright): the front page,
/// the GraphQL IDE with a token set in it, and the REST API reference. A screenshot of each is kept
/// in TestResults/pages.
/// </summary>
[Collection(CatalogCollection.Name)]
public class BrowserTests(CatalogFixture fx)
{
    private static string Artifacts => Path.Combine(CatalogFixture.RepoRoot, "TestResults", "pages");

    [Fact]
    public async Task The_front_page_the_GraphQL_IDE_and_the_API_reference_work_in_a_browser()
    {
        await using var server = fx.CreateFactory(new Dictionary<string, string?>());
        server.UseKestrel(0);
        server.StartServer();
        var root = server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/";
        await fx.Client.MakeDirectoryAsync("/belle/t/browser", parents: true);

        Directory.CreateDirectory(Artifacts);
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium", Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
        // Generous waits: the suite shares two cores with ./run.sh's builds (RunScriptTests) at times.
        page.SetDefaultTimeout(60_000);
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        // What the page did, for the failure message: its console and every GraphQL answer.
        var trace = new System.Collections.Concurrent.ConcurrentQueue<string>();
        page.Console += (_, m) => trace.Enqueue($"console {m.Type}: {m.Text}");
        page.Response += (_, r) => { if (r.Url.EndsWith("/graphql", StringComparison.Ordinal)) trace.Enqueue($"{r.Request.Method} /graphql: {r.Status}"); };
        try
        {
            await WalkAsync(page, root, errors);
        }
        catch (Exception e) when (e is TimeoutException or Xunit.Sdk.XunitException)
        {
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Artifacts, "failure.png") });
            throw new Xunit.Sdk.XunitException($"{e.Message}\npage trace:\n{string.Join("\n", trace)}\nresult pane: {await page.InnerTextAsync(".result-window").WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(t => t.IsCompletedSuccessfully ? t.Result : "(none)")}");
        }
    }

    private async Task WalkAsync(IPage page, string root, List<string> errors)
    {
        // Everything the pages need is served by the catalog itself: nothing may be asked of the internet.
        var outside = new List<string>();
        page.Request += (_, r) => { if (!r.Url.StartsWith(root, StringComparison.Ordinal) && !r.Url.StartsWith("data:", StringComparison.Ordinal)) outside.Add(r.Url); };

        // The front page, and from it the IDE.
        await page.GotoAsync(root);
        Assert.Equal("answers", await page.InnerTextAsync("#postgres"));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Artifacts, "front.png"), FullPage = true });
        await page.ClickAsync("text=GraphQL");
        await page.WaitForSelectorAsync(".graphiql-container");
        Assert.EndsWith("/graphql", page.Url);

        // Without a token nothing runs here (no public roots): the IDE shows the server's plain refusal.
        await page.ClickAsync(".graphiql-execute-button");
        await page.WaitForFunctionAsync("() => document.querySelector('.result-window')?.innerText.includes('send a token')");

        // With the token set, the schema loads (the Docs explorer lists the root fields) and the query answers.
        await page.FillAsync("#token", fx.AdminToken);
        await page.ClickAsync("#use");
        await page.WaitForFunctionAsync("() => document.querySelector('#who')?.innerText === 'as test-admin'");
        // The IDE was mounted afresh with the token: its result pane no longer holds the refusal.
        await page.WaitForFunctionAsync("() => document.querySelector('.result-window') && !document.querySelector('.result-window').innerText.includes('send a token')");
        await page.ClickAsync(".graphiql-execute-button");
        // The answer's first lines (the result pane draws only what is in view: stat comes first).
        await page.WaitForFunctionAsync("() => /\"(stat|errors)\"/.test(document.querySelector('.result-window')?.innerText ?? '')");
        var result = await page.InnerTextAsync(".result-window");
        Assert.True(result.Contains("\"path\": \"/belle\"") && !result.Contains("\"errors\""), result);
        await page.ClickAsync("[aria-label='Show Documentation Explorer']");
        await page.WaitForSelectorAsync(".graphiql-doc-explorer >> text=Query");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Artifacts, "graphql.png") });
        // The token stays for this browser session (a reload keeps it), and is used at once.
        await page.ReloadAsync();
        await page.WaitForFunctionAsync("() => document.querySelector('#who')?.innerText === 'as test-admin'");

        // The REST API reference: operations listed by their short names, the bearer scheme offered.
        await page.GotoAsync(root + "scalar/v1");
        await page.WaitForSelectorAsync("text=Who am I");
        await page.WaitForSelectorAsync("text=Bearer");
        Assert.Equal(0, await page.Locator("text=localhost:5000").CountAsync());
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Artifacts, "api-reference.png") });

        Assert.Empty(errors);
        Assert.Empty(outside);
    }
}
