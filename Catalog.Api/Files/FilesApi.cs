using Catalog.Api.Security;
using Catalog.Api.Errors;
using Catalog.Contracts;
using Microsoft.AspNetCore.Mvc;

namespace Catalog.Api.Files;

public static class FilesApi
{
    public static IEndpointRouteBuilder MapFilesApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/files").WithTags("Files");
        // The body is read item by item (RegisterBody): one mistyped item fails alone.
        api.MapPost("/", async (HttpRequest http, [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey,
                RegistrationService s, Caller caller, Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json, CancellationToken ct) =>
            {
                var (request, errors) = await RegisterBody.ReadAsync(http, json.Value.SerializerOptions, ct);
                return await s.RegisterAsync(request, idempotencyKey, caller, ct, errors);
            })
            .Accepts<RegisterRequest>("application/json")
            .WithName("RegisterFiles")
            .WithSummary("Register files")
            .WithDescription("Registers a batch of files with replicas and metadata, answered per item. Idempotent per file; an Idempotency-Key replays the first answer.")
            .ProducesProblem(400).ProducesProblem(422).ProducesProblem(503);
        api.MapGet("/", (string? lfn, FileService s, Caller caller, CancellationToken ct) => s.GetAsync(lfn, caller, ct))
            .WithName("GetFile").WithSummary("Get file")
            .WithDescription("A file with its replicas and metadata.").ProducesProblem(400).ProducesProblem(404);
        api.MapPost("/correct", (CorrectionRequest request, CorrectionService s, Caller caller, CancellationToken ct) => s.CorrectAsync(request, caller, ct))
            .WithName("CorrectFiles").WithSummary("Correct files")
            .WithDescription("Sets files' status (online, lost) or corrects a size or checksum, per item, each with a reason that is audited with the old and new values (data managers).")
            .ProducesProblem(400).ProducesProblem(403);
        api.MapGet("/by-guid/{guid}", (string guid, FileService s, Caller caller, CancellationToken ct) =>
                Guid.TryParse(guid, out var g) ? s.ByGuidAsync(g, caller, ct) : throw CatalogException.Invalid("guid", "must be a GUID"))
            .WithName("GetFileByGuid").WithSummary("Get a file by GUID")
            .WithDescription("GUID to LFN.").ProducesProblem(400).ProducesProblem(404);
        return app;
    }
}
