using System.Globalization;
using System.Text.RegularExpressions;

namespace Catalog.Tests.Infrastructure;

/// <summary>Reads values out of a Prometheus text exposition, so tests assert numbers, not names.</summary>
public static class MetricText
{
    /// <summary>
    /// The sum of every sample of <paramref name="name"/> (with or without the <c>_total</c> suffix)
    /// whose labels contain <paramref name="labels"/> (e.g. <c>space="file"</c>); 0 when there is none.
    /// </summary>
    public static double Sum(string metrics, string name, string? labels = null) =>
        Regex.Matches(metrics, $@"(?m)^{Regex.Escape(name)}(?:_total)?(\{{[^}}]*\}})? (\S+)$")
            .Where(m => labels is null || m.Groups[1].Value.Contains(labels, StringComparison.Ordinal))
            .Sum(m => double.Parse(m.Groups[2].Value, NumberStyles.Float, CultureInfo.InvariantCulture));
}
