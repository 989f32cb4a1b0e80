using Catalog.Contracts;

namespace Catalog.Production.Productions;

/// <summary>
/// The one table of allowed job moves. Every UPDATE of a job's state is guarded by
/// <c>state = any(From(to))</c>, so a late or repeated report can never move a job backwards.
/// </summary>
public static class JobStates
{
    private static readonly Dictionary<JobState, JobState[]> Next = new()
    {
        [JobState.Planned] = [JobState.Reserved, JobState.Registered, JobState.Killed],
        // Reserved: sbatch is about to run or ran. Back to Planned only when reconciliation proves Slurm never got it.
        [JobState.Reserved] = [JobState.Submitted, JobState.Planned, JobState.Running, JobState.Uploading, JobState.Registered, JobState.Failed, JobState.Killed],
        [JobState.Submitted] = [JobState.Running, JobState.Uploading, JobState.Registered, JobState.Failed, JobState.Killed],
        [JobState.Running] = [JobState.Uploading, JobState.Registered, JobState.Failed, JobState.Killed],
        [JobState.Uploading] = [JobState.Registered, JobState.Failed, JobState.Killed],
        // A failed job is planned again (a retry or a recover), or found registered after all.
        [JobState.Failed] = [JobState.Planned, JobState.Registered, JobState.Killed],
        // The catalog is the truth: a recover plans a registered job again only when its output is gone from it.
        [JobState.Registered] = [JobState.Planned],
        [JobState.Killed] = [],
    };

    private static readonly Dictionary<JobState, short[]> Into = Enum.GetValues<JobState>().ToDictionary(
        to => to, to => Next.Where(kv => kv.Value.Contains(to)).Select(kv => (short)kv.Key).ToArray());

    public static bool CanMove(JobState from, JobState to) => Next[from].Contains(to);

    /// <summary>The states a job may be in to move to <paramref name="to"/>, as the SQL guard takes them.</summary>
    public static short[] From(JobState to) => Into[to];

    /// <summary>In Slurm's hands: these count against a site's cap.</summary>
    public static readonly short[] Active = [(short)JobState.Reserved, (short)JobState.Submitted, (short)JobState.Running, (short)JobState.Uploading];
}
