using System.Diagnostics;

namespace Catalog.Grid;

/// <summary>Runs a command-line tool (xrdcp, xrdfs, sbatch, squeue, ...) and answers its exit code and output.</summary>
public static class Tool
{
    public static async Task<(int Code, string Output)> RunAsync(string tool, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) psi.Environment[name] = value;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"{tool} could not be started");
        var stdout = p.StandardOutput.ReadToEndAsync(ct);
        var stderr = p.StandardError.ReadToEndAsync(ct);
        try { await p.WaitForExitAsync(ct); }
        catch (OperationCanceledException)
        {
            // A stopping service takes its tools with it (a copy left running would outlive its claim).
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw;
        }
        return (p.ExitCode, (await stdout) + (await stderr));
    }
}
