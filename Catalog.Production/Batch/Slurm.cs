using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Catalog.Production.Batch;

/// <summary>A Slurm array's task as Slurm last saw it.</summary>
public sealed record SlurmTask(long ArrayJobId, int Task, string State, string ExitCode);

/// <summary>
/// Slurm through its commands (sbatch, squeue, scancel) and its job-completion log, which keeps
/// finished jobs with their names after Slurm itself forgets them (MinJobAge, 300 s by default).
/// </summary>
public sealed partial class Slurm(IOptions<ProductionOptions> options, ILogger<Slurm> logger)
{
    private readonly ProductionOptions o = options.Value;

    /// <summary>Submits an array of <paramref name="tasks"/> tasks; answers Slurm's job id.</summary>
    public async Task<long> SubmitArrayAsync(string jobName, string partition, int tasks, string script, string logDir, CancellationToken ct)
    {
        var (code, output) = await RunAsync("sbatch", ["--parsable", $"--job-name={jobName}", $"--partition={partition}", $"--array=0-{tasks - 1}",
            "--ntasks=1", "--mem=64M", $"--output={logDir}/%x_%a.out", script], ct);
        if (code != 0) throw new SlurmException($"sbatch failed ({code}): {output.Trim()}");
        return long.Parse(output.Trim().Split(';')[0]);
    }

    /// <summary>The cluster's partitions: one per site a job can run at.</summary>
    public async Task<IReadOnlySet<string>> PartitionsAsync(CancellationToken ct)
    {
        var (code, output) = await RunAsync("sinfo", ["--noheader", "--format=%R"], ct);
        if (code != 0) throw new SlurmException($"sinfo failed ({code}): {output.Trim()}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>Slurm job ids of arrays with this name, queued, running, or finished (from the completion log).</summary>
    public async Task<IReadOnlyList<long>> FindByNameAsync(string jobName, CancellationToken ct)
    {
        var (code, output) = await RunAsync("squeue", ["--noheader", "--array", $"--name={jobName}", "--format=%F"], ct);
        if (code != 0) throw new SlurmException($"squeue failed ({code}): {output.Trim()}");
        var ids = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToHashSet();
        foreach (var line in CompletionLog())
            if (CompletionField(line, "Name") == jobName && long.TryParse(CompletionField(line, "ArrayJobId") ?? CompletionField(line, "JobId"), out var id))
                ids.Add(id);
        return ids.Order().ToList();
    }

    /// <summary>The array job ids Slurm still has queued or running.</summary>
    public async Task<HashSet<long>> LiveArraysAsync(CancellationToken ct)
    {
        var (code, output) = await RunAsync("squeue", ["--noheader", "--array", "--format=%F"], ct);
        if (code != 0) throw new SlurmException($"squeue failed ({code}): {output.Trim()}");
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToHashSet();
    }

    /// <summary>Finished tasks of the given arrays, from the completion log.</summary>
    public IReadOnlyList<SlurmTask> Finished(IReadOnlySet<long> arrays)
    {
        var tasks = new List<SlurmTask>();
        foreach (var line in CompletionLog())
        {
            if (!long.TryParse(CompletionField(line, "ArrayJobId"), out var array) || !arrays.Contains(array)) continue;
            if (!int.TryParse(CompletionField(line, "ArrayTaskId"), out var task)) continue;
            tasks.Add(new SlurmTask(array, task, CompletionField(line, "JobState") ?? "", CompletionField(line, "ExitCode") ?? ""));
        }
        return tasks;
    }

    public async Task CancelAsync(IEnumerable<long> jobIds, CancellationToken ct)
    {
        var ids = jobIds.Select(i => i.ToString()).ToArray();
        if (ids.Length == 0) return;
        var (code, output) = await RunAsync("scancel", ids, ct);
        if (code != 0) logger.LogWarning("scancel {Ids} answered {Code}: {Output}", string.Join(',', ids), code, output.Trim());
    }

    /// <summary>True while an sbatch for this job name is still running (a killed service's child may outlive it).</summary>
    public static bool SubmissionInFlight(string jobName) =>
        Process.GetProcessesByName("sbatch").Any(p =>
        {
            try { return File.ReadAllText($"/proc/{p.Id}/cmdline").Contains($"--job-name={jobName}\0", StringComparison.Ordinal); }
            catch (IOException) { return false; }
        });

    private IEnumerable<string> CompletionLog()
    {
        var path = CompletionLogPath();
        if (path is null || !File.Exists(path)) return [];
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private string? CompletionLogPath()
    {
        if (o.SlurmConf is null || !File.Exists(o.SlurmConf)) return null;
        return File.ReadLines(o.SlurmConf).Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("JobCompLoc=", StringComparison.Ordinal))?["JobCompLoc=".Length..];
    }

    private static string? CompletionField(string line, string name)
    {
        var m = Regex.Match(line, $@"(?:^| ){name}=(\S*)");
        return m.Success ? m.Groups[1].Value : null;
    }

    private Task<(int Code, string Output)> RunAsync(string tool, string[] args, CancellationToken ct) =>
        Catalog.Grid.Tool.RunAsync(tool, args, o.SlurmConf is null ? null : new Dictionary<string, string> { ["SLURM_CONF"] = o.SlurmConf }, ct);
}

public sealed class SlurmException(string message) : Exception(message);
