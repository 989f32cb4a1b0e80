using System.Diagnostics;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Cli;

/// <summary>
/// ./run.sh from a clone inside a private (0700) folder, as in root's home: it starts the whole
/// system (catalog, local grid, production and transfer services), ./catalog in that clone reaches the
/// catalog and both services, the README's walkthrough runs verbatim against it, and ./run.sh stop
/// leaves nothing running and gives back the huge pages it reserved. Runs where the suite runs as root (CI), as run.sh itself expects.
/// </summary>
public class RunScriptTests
{
    [Fact]
    public async Task Run_sh_serves_from_a_private_folder_and_stop_leaves_nothing_running()
    {
        if (Environment.UserName != "root")
        {
            Assert.True(Environment.GetEnvironmentVariable("CI") is null, "CI must run the suite as root");
            return;
        }
        var home = Path.Combine(Path.GetTempPath(), $"private-{Guid.NewGuid():N}"[..20]);
        Directory.CreateDirectory(home, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var clone = Path.Combine(home, "catalog");
        Process? server = null;
        try
        {
            Assert.Equal(0, (await Run("git", ["clone", "-q", CatalogFixture.RepoRoot, clone], home)).Exit);
            var psi = new ProcessStartInfo("bash", ["./run.sh"]) { WorkingDirectory = clone, RedirectStandardOutput = true, RedirectStandardError = true };
            psi.Environment["CATALOG_PG_SHARED_BUFFERS_MB"] = "128";
            // The job's native build (clang, a minute of both cores) is not what this test is about.
            psi.Environment["CATALOG_NATIVE_JOB"] = "0";
            psi.Environment["CATALOG_URLS"] = $"http://127.0.0.1:{FreePort()}";
            server = Process.Start(psi)!;
            var log = new System.Text.StringBuilder();
            server.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
            server.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
            server.BeginOutputReadLine();
            server.BeginErrorReadLine();

            // The monitor is the last thing ./run.sh starts (a fresh machine installs clang for the job's native build first).
            var url = Path.Combine(clone, ".data", "monitor-url");
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            var until = DateTime.UtcNow.AddMinutes(12);
            while (true)
            {
                Assert.False(server.HasExited, $"run.sh exited: {log}");
                Assert.True(DateTime.UtcNow < until, $"run.sh did not start everything in 12 minutes: {log}");
                try { if (File.Exists(url) && (await http.GetAsync((await File.ReadAllTextAsync(url)).Trim() + "/readyz")).IsSuccessStatusCode) break; }
                catch (HttpRequestException) { }
                catch (TaskCanceledException) { }
                await Task.Delay(500);
            }
            Assert.Equal("700", Convert.ToString((int)File.GetUnixFileMode(home), 8)); // the user's folder was not loosened

            var whoami = await Run(Path.Combine(clone, "catalog"), ["whoami"], clone);
            Assert.True(whoami.Exit == 0, whoami.Output);
            Assert.Contains("admin", whoami.Output);
            var productions = await Run(Path.Combine(clone, "catalog"), ["production", "ls"], clone);
            Assert.True(productions.Exit == 0, productions.Output);
            var rules = await Run(Path.Combine(clone, "catalog"), ["rule", "ls"], clone);
            Assert.True(rules.Exit == 0, rules.Output);
            var ses = await Run(Path.Combine(clone, "catalog"), ["se", "ls"], clone);
            Assert.Contains("KEK-DISK", ses.Output);
            var monitor = await Run(Path.Combine(clone, "catalog"), ["monitor"], clone);
            Assert.True(monitor.Exit == 0, monitor.Output);
            Assert.Contains("dashboard: ", monitor.Output);
            // The catalog's front page links the dashboard, which serves its page and its chart library.
            var dashboard = (await File.ReadAllTextAsync(url)).Trim();
            var front = await http.GetStringAsync((await File.ReadAllTextAsync(Path.Combine(clone, ".data", "url"))).Trim() + "/");
            Assert.Contains($"href=\"{dashboard}/\"", front);
            Assert.Contains("uPlot", await http.GetStringAsync(dashboard + "/"));
            Assert.True((await http.GetAsync(dashboard + "/lib/uPlot.iife.min.js")).IsSuccessStatusCode);

            // The README's walkthrough, verbatim: every sh block, in order, in one shell in the clone.
            var walkthrough = ReadmeScript(await File.ReadAllTextAsync(Path.Combine(clone, "README.md")));
            Assert.True(walkthrough.Blocks >= 7, $"only {walkthrough.Blocks} README blocks found");
            var readme = await Run("bash", ["-c", walkthrough.Script], clone, TimeSpan.FromMinutes(8));
            Assert.True(readme.Exit == 0, $"the README's walkthrough failed (exit {readme.Exit}); its output:\n{Tail(readme.Output, 6000)}");
            Assert.Contains(">>> README block " + walkthrough.Blocks, readme.Output);

            // What run.sh added to the kernel's pool is recorded, and stop gives exactly that back.
            var record = Path.Combine(clone, ".data", "hugepages");
            var reserved = File.Exists(record) ? long.Parse((await File.ReadAllTextAsync(record)).Trim()) : 0;
            var pagesBefore = HugePages();
            var stop = await Run("bash", ["./run.sh", "stop"], clone);
            Assert.Equal(0, stop.Exit);
            Assert.True(server.WaitForExit(TimeSpan.FromSeconds(30)), "run.sh kept running after ./run.sh stop");
            server.WaitForExit(); // and its output is read to the end
            var left = await Run("bash", ["-c", $"ps -eo args | grep -F -- '{clone}' | grep -v grep || true"], clone);
            Assert.Equal("", left.Output.Trim());
            // The SEs' folders live outside the private folder (the xrootd user cannot enter it): nothing runs from there either.
            var seRoot = Path.Combine(clone, ".data", "grid", "se.location");
            Assert.True(File.Exists(seRoot), "the SEs were not placed outside the private folder");
            var se = (await File.ReadAllTextAsync(seRoot)).Trim();
            Assert.Equal("", (await Run("bash", ["-c", $"ps -eo args | grep -F -- '{se}' | grep -v grep || true"], clone)).Output.Trim());
            // Exactly its own pages went back (said by whichever stop gave them back). The pool itself is
            // the machine's: the suite's own servers may give theirs back meanwhile, so it can only be lower.
            string said;
            lock (log) said = log + stop.Output;
            if (reserved > 0) Assert.Contains($"gave back {reserved} huge pages", said);
            Assert.True(HugePages() <= pagesBefore - reserved, $"{HugePages()} huge pages after stop, more than {pagesBefore} - {reserved}");
            Assert.False(File.Exists(record));
        }
        finally
        {
            if (server is { HasExited: false }) { await Run("bash", ["./run.sh", "stop"], clone); server.Kill(entireProcessTree: true); }
            var pg = Path.Combine(clone, ".data", "pg.location");
            if (File.Exists(pg)) Directory.Delete(Path.GetDirectoryName((await File.ReadAllTextAsync(pg)).Trim())!, recursive: true);
            // The SEs' folders outside the private folder are this test's too.
            var seLocation = Path.Combine(clone, ".data", "grid", "se.location");
            if (File.Exists(seLocation) && Path.GetDirectoryName((await File.ReadAllTextAsync(seLocation)).Trim()) is { } seParent
                && seParent.StartsWith("/var/lib/catalog/", StringComparison.Ordinal) && Directory.Exists(seParent))
                Directory.Delete(seParent, recursive: true);
            Directory.Delete(home, recursive: true);
        }
    }

    [Fact]
    public async Task A_start_that_fails_says_why_and_gives_back_what_it_took()
    {
        if (Environment.UserName != "root") return; // PostgreSQL is started as its own user by root only
        var data = Path.Combine(Path.GetTempPath(), $"runsh-fail-{Guid.NewGuid():N}"[..24]);
        Directory.CreateDirectory(data);
        // PostgreSQL's port is taken: it cannot start, after ./run.sh has reserved huge pages for it.
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        await File.WriteAllTextAsync(Path.Combine(data, "ports"), $"PG_PORT={port}\nREDIS_PORT={FreePort()}\nAPI_PORT={FreePort()}\n");
        try
        {
            var psi = new ProcessStartInfo("bash", ["./run.sh"]) { WorkingDirectory = CatalogFixture.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true };
            psi.Environment["CATALOG_DATA"] = data;
            psi.Environment["CATALOG_PG_SHARED_BUFFERS_MB"] = "128";
            psi.Environment["CATALOG_NATIVE_JOB"] = "0";
            using var run = Process.Start(psi)!;
            var output = run.StandardOutput.ReadToEndAsync();
            var errors = run.StandardError.ReadToEndAsync();
            Assert.True(run.WaitForExit(TimeSpan.FromMinutes(3)), "run.sh did not give up");
            var said = await output + await errors;
            Assert.NotEqual(0, run.ExitCode);
            Assert.Contains($"PostgreSQL did not start on port {port}", said);
            Assert.Contains("Address already in use", said);          // the server log's reason, not "examine the log"
            var record = Path.Combine(data, "hugepages");
            Assert.False(File.Exists(record), $"the huge pages it reserved were not given back:\n{said}");
            if (said.Contains("gave back", StringComparison.Ordinal)) Assert.Matches(@"gave back \d+ huge pages", said);
            var left = await Run("bash", ["-c", $"ps -eo args | grep -F -- '{data}' | grep -v grep || true"], data);
            Assert.Equal("", left.Output.Trim());
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task The_README_runner_skips_only_marked_blocks_and_fails_on_the_first_failing_command()
    {
        var readme = "# T\n<!-- readme-test: skip (started by the test) -->\n```sh\nexit 7\n```\ntext\n```sh\nX=1\n```\n```console\nexit 9\n```\n"
            + "```sh\necho \"x=$X\"\ntrue | cat\n```\n";
        var (script, blocks) = ReadmeScript(readme);
        Assert.Equal(2, blocks);
        var ok = await Run("bash", ["-c", script], Path.GetTempPath());
        Assert.Equal(0, ok.Exit);
        Assert.Contains("x=1", ok.Output); // one shell: a variable set in one block is there in the next
        var failing = await Run("bash", ["-c", ReadmeScript(readme.Replace("true | cat", "false | cat\necho after")).Script], Path.GetTempPath());
        Assert.NotEqual(0, failing.Exit);
        Assert.DoesNotContain("after", failing.Output);
    }

    /// <summary>
    /// The README's <c>sh</c> blocks as one bash script (errexit, pipefail), each announced by its line
    /// number; a block right after a <c>&lt;!-- readme-test: skip ... --&gt;</c> comment is left out (the
    /// first one: ./run.sh itself, which this test runs around the walkthrough).
    /// </summary>
    internal static (string Script, int Blocks) ReadmeScript(string readme)
    {
        var lines = readme.Split('\n');
        var script = new System.Text.StringBuilder("set -eo pipefail\n");
        var (blocks, skip) = (0, false);
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.StartsWith("<!-- readme-test: skip", StringComparison.Ordinal)) { skip = true; continue; }
            if (line.Trim() != "```sh") { if (line.Trim().Length > 0) skip = false; continue; }
            var start = i + 1;
            var end = Array.FindIndex(lines, start, l => l.TrimEnd('\r').Trim() == "```");
            Assert.True(end > 0, $"README line {i + 1}: a sh block is never closed");
            if (!skip)
            {
                script.Append($"echo '>>> README block {++blocks} (line {i + 1})'\n");
                foreach (var body in lines[start..end]) script.Append(body.TrimEnd('\r')).Append('\n');
            }
            (skip, i) = (false, end);
        }
        return (script.ToString(), blocks);
    }

    private static string Tail(string text, int chars) => text.Length <= chars ? text : "..." + text[^chars..];

    private static long HugePages() => long.Parse(File.ReadAllText("/proc/sys/vm/nr_hugepages").Trim());

    private static int FreePort()
    {
        using var socket = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        socket.Start();
        return ((System.Net.IPEndPoint)socket.LocalEndpoint).Port;
    }

    private static async Task<(int Exit, string Output)> Run(string file, string[] args, string dir, TimeSpan? limit = null)
    {
        var psi = new ProcessStartInfo(file, args) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        // Output and errors interleaved as they come, so a failure is seen after what led to it.
        var output = new System.Text.StringBuilder();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(limit ?? TimeSpan.FromMinutes(5));
        try { await p.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            lock (output) output.AppendLine($"(killed after {limit ?? TimeSpan.FromMinutes(5)})");
        }
        p.WaitForExit(); // the last lines of output
        lock (output) return (p.HasExited ? p.ExitCode : -1, output.ToString());
    }
}
