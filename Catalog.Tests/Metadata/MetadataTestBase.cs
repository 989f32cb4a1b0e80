using System.Text.Json.Nodes;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Metadata;

/// <summary>A strict metadata area of the test's own (not under the permissive /belle/t).</summary>
public abstract class MetadataTestBase(CatalogFixture fx)
{
    protected CatalogFixture Fx { get; } = fx;

    protected static string Area([System.Runtime.CompilerServices.CallerMemberName] string name = "") =>
        $"/belle/m/{name[..Math.Min(name.Length, 40)]}-{Guid.NewGuid():N}";

    protected async Task<string> DeclareDomainSchemaAsync(string area)
    {
        await Fx.Client.MakeDirectoryAsync(area, parents: true);
        foreach (var (name, type, target, allowed) in new (string, AttributeType, AttributeTarget, JsonNode?[]?)[]
        {
            ("dataType", AttributeType.String, AttributeTarget.Directories, ["mc", "data"]),
            ("campaign", AttributeType.String, AttributeTarget.Directories, null),
            ("beamEnergy", AttributeType.String, AttributeTarget.Directories, ["4S", "5S", "offres"]),
            ("mcEventType", AttributeType.String, AttributeTarget.Directories, null),
            ("dataLevel", AttributeType.String, AttributeTarget.Directories, ["raw", "mdst", "udst"]),
            ("release", AttributeType.String, AttributeTarget.Directories, null),
            ("globalTag", AttributeType.String, AttributeTarget.Directories, null),
            ("experiment", AttributeType.Integer, AttributeTarget.Directories, null),
            ("nEvents", AttributeType.Integer, AttributeTarget.Files, null),
            ("runLow", AttributeType.Integer, AttributeTarget.Files, null),
            ("runHigh", AttributeType.Integer, AttributeTarget.Files, null),
            ("site", AttributeType.String, AttributeTarget.Files, null),
            ("generated", AttributeType.Timestamp, AttributeTarget.Files, null),
            ("isMC", AttributeType.Boolean, AttributeTarget.Files, null),
            ("luminosity", AttributeType.Float, AttributeTarget.Directories, null),
            ("description", AttributeType.String, AttributeTarget.Directories, null),
        })
            await Fx.Client.DeclareAttributeAsync(new AttributeSpec(area, name, type, target, allowed, Indexed: name is "experiment" or "nEvents"));
        return area;
    }

    protected static NewFile File(string lfn, string se, JsonObject? metadata = null, IReadOnlyList<string?>? parents = null, string? dataset = null) =>
        new(lfn, 1000, "0000000a", Replicas: [new NewReplica(se)], Metadata: metadata, Dataset: dataset, Parents: parents);
}
