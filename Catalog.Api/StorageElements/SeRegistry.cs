using Catalog.Api.Errors;
using Catalog.Contracts;
using Catalog.Storage;
using Npgsql;

namespace Catalog.Api.StorageElements;

/// <summary>
/// The SE registry as one transaction saw it, keyed both ways: by name for what clients send,
/// by id for what the tables hold. Every service reads it through <see cref="ReadAsync"/>.
/// </summary>
public sealed class SeRegistry
{
    private readonly Dictionary<string, StorageElementRow> byName;
    private readonly Dictionary<short, StorageElementRow> byId;

    private SeRegistry(IReadOnlyList<StorageElementRow> rows)
    {
        byName = rows.ToDictionary(s => s.Name, StringComparer.Ordinal);
        byId = rows.ToDictionary(s => s.Id);
    }

    public static async Task<SeRegistry> ReadAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, CancellationToken ct) =>
        new(await StorageElementStore.ListRegistryAsync(conn, tx, ct));

    /// <summary>A registry of the given rows (validation without a database, e.g. in unit tests).</summary>
    public static SeRegistry Of(IReadOnlyList<StorageElementRow> rows) => new(rows);

    public bool TryGet(string name, out StorageElementRow se) => byName.TryGetValue(name, out se!);

    public bool TryGet(short id, out StorageElementRow se) => byId.TryGetValue(id, out se!);

    /// <summary>
    /// Checks one new replica against the registry: the wrong-destination-SE mistake stops here
    /// (an unknown SE, one that takes no writes).
    /// </summary>
    public ItemError? ValidateNewReplica(string at, NewReplica? replica, out NewReplicaRow? row)
    {
        row = null;
        if (replica is null) return CatalogException.InvalidItem(at, "is required");
        if (string.IsNullOrEmpty(replica.Se)) return CatalogException.InvalidItem($"{at}.se", "is required");
        if (!byName.TryGetValue(replica.Se, out var se))
            return new ItemError(ErrorCode.UnknownStorageElement, $"{at}.se: storage element '{replica.Se}' is not registered", $"{at}.se");
        if (!se.WriteEnabled)
            return new ItemError(ErrorCode.StorageElementWriteDisabled, $"{at}.se: storage element '{replica.Se}' does not accept writes", $"{at}.se");
        if (replica.Pfn is not null && (replica.Pfn.Length is 0 or > 2048 || replica.Pfn.Any(char.IsControl)))
            return CatalogException.InvalidItem($"{at}.pfn", "must be 1 to 2048 characters without control characters");
        row = new NewReplicaRow(0, se.Id, (short)(replica.State ?? ReplicaState.Available), replica.Pfn);
        return null;
    }
}
