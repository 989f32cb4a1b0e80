using System.Text.Json.Nodes;
using Catalog.Api.Errors;
using Catalog.Api.Hosting;
using Catalog.Api.Http;
using Catalog.Api.Security;
using Catalog.Contracts;
using Catalog.Storage;
using Microsoft.Extensions.Options;

namespace Catalog.Api.Audit;

/// <summary>Reading the audit trail (admin only): by path, identity and time, oldest first, paged by id.</summary>
public sealed class AuditService(Db db, Access access, IOptions<CatalogOptions> options)
{
    public async Task<AuditPage> QueryAsync(string? path, string? subject, DateTimeOffset? from, DateTimeOffset? to, long? after, int? limit,
        Caller caller, CancellationToken ct)
    {
        access.DemandRole(caller, Role.Admin, "read the audit trail");
        var size = options.Value.PageSize(limit, 1000);
        if (path is not null && !Scope.IsCleanPath(path)) throw CatalogException.Invalid("path", "must be a clean absolute path");
        await using var conn = await db.OpenAsync(ct);
        var rows = await AuditStore.QueryAsync(conn, path, subject, from, to, after ?? 0, size, ct);
        var records = rows.Select(r => new AuditRecord(r.Id, Mapping.Utc(r.At), r.Subject, r.TokenId, r.Remote, r.RequestId, r.Action, r.Path, r.Outcome,
            r.Detail is null ? null : JsonNode.Parse(r.Detail)!.AsObject())).ToList();
        return new AuditPage(records, records.Count == size ? records[^1].Id : null);
    }
}
