using Catalog.Api.Errors;
using Catalog.Api.Infrastructure;
using Catalog.Contracts;
using Catalog.Storage;

namespace Catalog.Api.StorageElements;

/// <summary>The SE registry: replicas can only be placed on SEs listed here and open for writing.</summary>
public sealed class StorageElementService(Db db)
{
    private static readonly string[] Protocols = ["root", "davs", "https", "srm", "gsiftp", "file"];

    public async Task<IReadOnlyList<StorageElement>> ListAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenAsync(ct);
        return (await StorageElementStore.ListAsync(conn, null, ct)).Select(Mapping.ToStorageElement).ToList();
    }

    public async Task<StorageElement> GetAsync(string name, CancellationToken ct)
    {
        await using var conn = await db.OpenAsync(ct);
        var row = await StorageElementStore.GetAsync(conn, name, ct) ?? throw CatalogException.NotFound($"storage element '{name}'", "name");
        return Mapping.ToStorageElement(row);
    }

    public async Task<StorageElement> PutAsync(string name, StorageElementSpec spec, CancellationToken ct)
    {
        if (name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw CatalogException.Invalid("name", "must be 1 to 64 letters, digits, '-', '_' or '.'");
        if (string.IsNullOrWhiteSpace(spec.Site)) throw CatalogException.Invalid("site", "is required");
        if (string.IsNullOrWhiteSpace(spec.Protocol)) throw CatalogException.Invalid("protocol", "is required");
        if (!Protocols.Contains(spec.Protocol))
            throw CatalogException.Invalid("protocol", $"must be one of {string.Join(", ", Protocols)}");
        if (string.IsNullOrWhiteSpace(spec.BaseUrl)) throw CatalogException.Invalid("baseUrl", "is required");
        var baseUrl = spec.BaseUrl.TrimEnd('/');
        var expectedScheme = spec.Protocol == "file" ? "/" : spec.Protocol + "://";
        if (!baseUrl.StartsWith(expectedScheme, StringComparison.Ordinal) || baseUrl.Any(char.IsControl))
            throw CatalogException.Invalid("baseUrl", $"must start with '{expectedScheme}' for protocol {spec.Protocol}");

        await using var conn = await db.OpenAsync(ct);
        await StorageElementStore.UpsertAsync(conn, name, spec.Site, spec.Protocol, baseUrl,
            spec.ReadEnabled, spec.WriteEnabled, (short)spec.State, ct);
        return Mapping.ToStorageElement((await StorageElementStore.GetAsync(conn, name, ct))!);
    }

    public async Task DeleteAsync(string name, CancellationToken ct)
    {
        await using var conn = await db.OpenAsync(ct);
        if (await StorageElementStore.GetAsync(conn, name, ct) is null) return;
        if (!await StorageElementStore.DeleteIfEmptyAsync(conn, name, ct))
            throw new CatalogException(ErrorCode.NotEmpty, $"storage element '{name}' still holds replicas", "name");
    }
}
