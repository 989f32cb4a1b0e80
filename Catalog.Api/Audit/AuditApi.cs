using System.Text.Json.Nodes;
using Catalog.Api.Errors;
using Catalog.Api.Infrastructure;
using Catalog.Api.Security;
using Catalog.Contracts;
using Catalog.Storage;

namespace Catalog.Api.Audit;

public static class AuditApi
{
    public static IEndpointRouteBuilder MapAuditApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/audit", async (string? path, string? subject, DateTimeOffset? from, DateTimeOffset? to, long? after, int? limit,
                Db db, Access access, Caller caller, CancellationToken ct) =>
            {
                access.DemandRole(caller, Role.Admin, "read the audit trail");
                var size = limit ?? 1000;
                if (size is < 1 or > 10_000)
                    throw new CatalogException(ErrorCode.LimitExceeded, "limit must be between 1 and 10000", "limit");
                if (path is not null && !Scope.IsCleanPath(path)) throw CatalogException.Invalid("path", "must be a clean absolute path");
                await using var conn = await db.OpenAsync(ct);
                var rows = await AuditStore.QueryAsync(conn, path, subject, from, to, after ?? 0, size, ct);
                var records = rows.Select(r => new AuditRecord(r.Id, Mapping.Utc(r.At), r.Subject, r.TokenId, r.Remote, r.RequestId, r.Action, r.Path, r.Outcome,
                    r.Detail is null ? null : JsonNode.Parse(r.Detail)!.AsObject())).ToList();
                return new AuditPage(records, records.Count == size ? records[^1].Id : null);
            })
            .WithTags("Audit")
            .WithSummary("Audited writes at or under a path, by an identity, in a time range (admin only); oldest first, paged by id.");
        return app;
    }
}
