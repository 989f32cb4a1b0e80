using Catalog.Contracts;
using Catalog.Monitor.Passive;
using Catalog.Monitor.Status;

namespace Catalog.Monitor.Tests;

public class StatusMachineTests
{
    private const int Ban = 3, Recover = 3;

    private static (TargetState Final, List<TargetStatus> Path) Run(TargetState start, string results)
    {
        var s = start;
        var path = new List<TargetStatus> { s.Status };
        foreach (var r in results)
        {
            s = StatusMachine.Next(s, r == '+', r == '+' ? null : "upload: refused", Ban, Recover);
            if (s.Status != path[^1]) path.Add(s.Status);
        }
        return (s, path);
    }

    private static readonly TargetState Fresh = new(TargetStatus.Active, 0, 0, null, false);

    [Fact]
    public void Consecutive_failures_degrade_then_ban_and_switch_off()
    {
        var (s, path) = Run(Fresh, "---");
        Assert.Equal([TargetStatus.Active, TargetStatus.Degraded, TargetStatus.Banned], path);
        Assert.True(s.SwitchedOff);
        Assert.Contains("3 probes failed in a row", s.Reason);
        Assert.Contains("upload: refused", s.Reason);
    }

    [Fact]
    public void A_banned_target_comes_back_through_probing_after_enough_passes_in_a_row()
    {
        var (banned, _) = Run(Fresh, "---");
        var (s, path) = Run(banned, "+++");
        Assert.Equal([TargetStatus.Banned, TargetStatus.Probing, TargetStatus.Active], path);
        Assert.False(s.SwitchedOff);
        var (probing, _) = Run(banned, "++");
        Assert.Equal(TargetStatus.Probing, probing.Status);
        Assert.True(probing.SwitchedOff);
    }

    [Theory]
    [InlineData("-+-+-+-+-+-+-+-+-+-+")]
    [InlineData("--+--+--+--+--+--+")]
    [InlineData("-++-++-++-++-++-++")]
    public void Alternating_results_change_the_status_once_and_then_hold(string results)
    {
        var (s, path) = Run(Fresh, results);
        Assert.Equal([TargetStatus.Active, TargetStatus.Degraded], path);
        Assert.False(s.SwitchedOff);
    }

    [Fact]
    public void Alternating_results_while_probing_neither_re_enable_nor_re_ban()
    {
        var (banned, _) = Run(Fresh, "---");
        var (s, path) = Run(banned, "+-+-+-+--+--+");
        Assert.Equal([TargetStatus.Banned, TargetStatus.Probing], path);
        Assert.True(s.SwitchedOff);
    }

    [Fact]
    public void Passes_in_a_row_clear_a_degraded_target_without_a_ban()
    {
        var (s, path) = Run(Fresh, "--+++");
        Assert.Equal([TargetStatus.Active, TargetStatus.Degraded, TargetStatus.Active], path);
        Assert.False(s.SwitchedOff);
    }

    [Fact]
    public void A_downtime_drains_first_then_goes_down_then_probes_back()
    {
        var now = DateTimeOffset.UtcNow;
        var downtime = new Downtime(1, "se:KEK-DISK", now.AddHours(1), now.AddHours(2), now.AddHours(-1), "disk swap", "admin");
        var draining = StatusMachine.Schedule(Fresh, downtime, now)!.Value;
        Assert.Equal(TargetStatus.Draining, draining.Status);
        Assert.True(draining.SwitchedOff);
        Assert.Null(StatusMachine.Schedule(draining, downtime, now));
        // Probes during the drain do not move it.
        Assert.Equal(TargetStatus.Draining, StatusMachine.Next(draining, false, "x", Ban, Recover).Status);
        var down = StatusMachine.Schedule(draining, downtime, now.AddHours(1.5))!.Value;
        Assert.Equal(TargetStatus.Downtime, down.Status);
        var (afterFailures, _) = Run(down, "------");
        Assert.Equal(TargetStatus.Downtime, afterFailures.Status);
        var back = StatusMachine.Schedule(down, null, now.AddHours(2.5))!.Value;
        Assert.Equal(TargetStatus.Probing, back.Status);
        Assert.True(back.SwitchedOff);
        Assert.Equal(TargetStatus.Active, Run(back, "+++").Final.Status);
        Assert.Null(StatusMachine.Schedule(Fresh, null, now));
    }

    [Theory]
    [InlineData("upload to root://127.0.0.1:40575//belle/MC/x/f_00012.root failed after 30 s", "upload to <url> failed after <n> s")]
    [InlineData("[ERROR] Server responded with an error: [3011] No such file or directory /belle/a/b.root", "[ERROR] Server responded with an error: [<n>] No such file or directory <path>")]
    [InlineData("checksum mismatch: 0a1b2c3d != 0e1f2a3b", "checksum mismatch: <hex> != <hex>")]
    [InlineData("job 5f0e4a51-3b1c-4d0e-9a8f-2b7c6d5e4f3a lost", "job <id> lost")]
    [InlineData("upload: [FATAL] Invalid address (root://storm.kek:1094)", "upload: [FATAL] Invalid address (<url>)")]
    public void Failures_that_differ_only_in_names_and_numbers_group_together(string message, string masked) =>
        Assert.Equal(masked, SeriesStore.Mask(message));

    [Fact]
    public void Prometheus_totals_read_the_cache_and_request_counters()
    {
        var text = """
            # HELP catalog_cache_hits Reads answered from Redis
            catalog_cache_hits{space="file"} 30
            catalog_cache_local_hits{space="file"} 10
            catalog_cache_misses{space="file"} 10
            microsoft_aspnetcore_hosting_http_server_request_duration_sum{route="a"} 1.5
            microsoft_aspnetcore_hosting_http_server_request_duration_count{route="a"} 3
            microsoft_aspnetcore_hosting_http_server_request_duration_count{route="b"} 2
            """;
        Assert.Equal((40, 10, 1.5, 5), PrometheusText.Totals(text));
    }
}
