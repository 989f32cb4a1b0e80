namespace Catalog.Modules;

/// <summary>
/// Test-only fault injection: with the service's Fault setting naming a point, the process exits
/// there by SIGKILL to itself (no shutdown hooks, no flushing: a real kill), so the tests can check
/// a protocol at each step.
/// </summary>
public sealed class Faults(string? fault)
{
    public void At(string point)
    {
        if (!string.Equals(fault, point, StringComparison.Ordinal)) return;
        Console.Error.WriteLine($"fault injected: exiting at {point}");
        System.Diagnostics.Process.GetCurrentProcess().Kill();
    }
}
