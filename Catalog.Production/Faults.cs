namespace Catalog.Production;

/// <summary>
/// Test-only fault injection: with Production:Fault set to a point's name, the process exits there
/// by SIGKILL to itself (no shutdown hooks, no flushing: a real kill), so the tests can check the
/// submission protocol at each step.
/// </summary>
public sealed class Faults(Microsoft.Extensions.Options.IOptions<ProductionOptions> options)
{
    public const string AfterReserve = "after-reserve", AfterSbatch = "after-sbatch", AfterRecord = "after-record";
    public void At(string point)
    {
        if (!string.Equals(options.Value.Fault, point, StringComparison.Ordinal)) return;
        Console.Error.WriteLine($"fault injected: exiting at {point}");
        System.Diagnostics.Process.GetCurrentProcess().Kill();
    }
}
