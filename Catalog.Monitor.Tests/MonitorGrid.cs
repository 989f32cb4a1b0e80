using Catalog.Contracts;
using Catalog.Production.Tests;

namespace Catalog.Monitor.Tests;

/// <summary>The local grid with the monitor running (probes every second, ban after 2 failures, recovery after 2 passes).</summary>
public sealed class MonitorGrid : GridFixture
{
    protected override bool WithMonitor => true;

    public async Task<TargetInfo> WaitTargetAsync(string name, Func<TargetInfo, bool> until, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            var target = (await Monitor.TargetsAsync()).FirstOrDefault(t => t.Name == name);
            if (target is not null && until(target)) return target;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{name} did not get there in {within.TotalSeconds} s: {System.Text.Json.JsonSerializer.Serialize(target, CatalogJson.Options)}\n{Tail("monitor.log")}");
            await Task.Delay(250);
        }
    }

    public async Task WaitAllActiveAsync(TimeSpan within)
    {
        foreach (var name in new[] { "se:KEK-DISK", "se:DESY-DISK", "se:PNNL-DISK", "catalog", "service:catalog", "service:production", "service:transfer",
                     "site:KEK", "site:DESY", "site:PNNL" })
            await WaitTargetAsync(name, t => t.Status == TargetStatus.Active, within);
    }
}

[CollectionDefinition(Name)]
public sealed class MonitorCollection : ICollectionFixture<MonitorGrid>
{
    public const string Name = "monitor-grid";
}
