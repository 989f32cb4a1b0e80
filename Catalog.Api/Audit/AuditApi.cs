using Catalog.Api.Security;

namespace Catalog.Api.Audit;

public static class AuditApi
{
    public static IEndpointRouteBuilder MapAuditApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/audit", (string? path, string? subject, DateTimeOffset? from, DateTimeOffset? to, long? after, int? limit,
                AuditService s, Caller caller, CancellationToken ct) => s.QueryAsync(path, subject, from, to, after, limit, caller, ct))
            .WithTags("Audit").WithName("ReadAudit")
            .WithSummary("Read the audit log")
            .WithDescription("Audited writes at or under a path, by an identity, in a time range (admin only); oldest first, paged by id.");
        return app;
    }
}
