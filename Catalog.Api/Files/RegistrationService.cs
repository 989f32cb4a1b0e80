using System.Security.Cryptography;
using Catalog.Api.Audit;
using Catalog.Api.Errors;
using Catalog.Api.Hosting;
using Catalog.Api.Http;
using Catalog.Api.Security;
using Catalog.Contracts;
using Microsoft.Extensions.Options;

namespace Catalog.Api.Files;

/// <summary>
/// Registration, the hot path of every grid job: the request's rules (limits, the idempotency
/// key, permission on every item, parsed once by <see cref="RegistrationValidator"/>), then the
/// writer: small requests through the coalescer's shared transactions, larger ones in their own;
/// then the audit trail. REST and GraphQL both come here.
/// </summary>
public sealed class RegistrationService(IOptions<CatalogOptions> options, IOptions<RegistrationOptions> coalescing, Access access, AuditLog audit,
    RegistrationWriter writer, RegistrationCoalescer coalescer)
{
    public const int MaxIdempotencyKeyLength = 200;

    /// <param name="typingErrors">Items the body reader could not read as files (null when it read them all), failed with these.</param>
    public async Task<RegisterResponse> RegisterAsync(RegisterRequest request, string? idempotencyKey, Caller caller, CancellationToken ct,
        ItemError?[]? typingErrors = null)
    {
        var limits = options.Value;
        var files = request.Files ?? throw CatalogException.Invalid("files", "is required");
        // An empty batch is a valid request with an empty answer (a job with no outputs, a split that came out even).
        if (files.Count == 0) { access.DemandRole(caller, Role.Producer, "register files"); return new RegisterResponse([], 0, 0, 0); }
        if (files.Count > limits.MaxBatchSize)
            throw new CatalogException(ErrorCode.LimitExceeded,
                $"files: at most {limits.MaxBatchSize} per batch (Catalog:MaxBatchSize), got {files.Count}", "files");
        if (idempotencyKey is not null && (idempotencyKey.Length is 0 or > MaxIdempotencyKeyLength))
            throw CatalogException.Invalid("Idempotency-Key", $"must be 1 to {MaxIdempotencyKeyLength} characters");
        var parsed = RegistrationValidator.Parse(files, limits.Roots, out var parseErrors);
        for (var i = 0; typingErrors is not null && i < typingErrors.Length; i++)
            if (typingErrors[i] is { } typing) (parseErrors[i], parsed[i]) = (typing, null);
        // Permission is all or nothing: one file outside the caller's scopes and nothing is stored.
        foreach (var p in parsed)
            if (p is not null) access.Demand(caller, Operation.Create, p.PermissionPath, $"files[{p.Index}].lfn");

        // Keys are the caller's own: another identity cannot squat a predictable key (job-4711-try-1)
        // or replay someone else's answer by sending the same body under it.
        var key = idempotencyKey is null ? null : $"{caller.Subject}\u001f{idempotencyKey}";
        var work = new RegistrationWriter.Work(files, parsed, parseErrors, key, idempotencyKey is null ? null : HashOf(request), caller);
        // Small registrations (a job's outputs) may share a transaction and its commit with others.
        var response = coalescing.Value.Coalesce && files.Count <= coalescing.Value.CoalesceMaxFiles
            ? await coalescer.SubmitAsync(work, ct)
            : await writer.WriteAsync(work, ct);
        await audit.RecordManyAsync(caller, "register", response.Results.Select(r => (r.Lfn, Mapping.Wire(r.Status),
            r.Error is null ? null : new System.Text.Json.Nodes.JsonObject { ["error"] = r.Error.Code.ToWire() })));
        return response;
    }

    private static byte[] HashOf(RegisterRequest request)
    {
        using var json = PooledJson.Serialize(request, CatalogJson.Options);
        return SHA256.HashData(json.Memory.Span);
    }
}
