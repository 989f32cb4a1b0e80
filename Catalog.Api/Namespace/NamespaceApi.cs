using Catalog.Api.Security;
using Catalog.Contracts;

namespace Catalog.Api.Namespace;

public static class NamespaceApi
{
    public static IEndpointRouteBuilder MapNamespaceApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").WithTags("Namespace");
        api.MapPost("/directories", (MakeDirectoryRequest request, NamespaceService s, Caller caller, CancellationToken ct) =>
                s.MakeDirectoryAsync(request, caller, ct))
            .WithName("MakeDirectory").WithSummary("Make directory")
            .WithDescription("mkdir; with parents, creates missing ancestors. Existing directories succeed.")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);
        api.MapGet("/directories", (string? path, string? after, int? limit, NamespaceService s, Caller caller, CancellationToken ct) =>
                s.ListAsync(path, after, limit, caller, ct))
            .WithName("ListDirectory").WithSummary("List directory")
            .WithDescription("One page of a directory, sorted by name; pass 'next' as 'after' for the next page.")
            .ProducesProblem(400).ProducesProblem(404);
        api.MapGet("/namespace/stat", (string? path, NamespaceService s, Caller caller, CancellationToken ct) => s.StatAsync(path, caller, ct))
            .WithName("Stat").WithSummary("Stat an entry")
            .WithDescription("A file or directory entry.").ProducesProblem(400).ProducesProblem(404);
        api.MapPost("/namespace/move", (MoveRequest request, NamespaceService s, Caller caller, CancellationToken ct) => s.MoveAsync(request, caller, ct))
            .WithName("Move").WithSummary("Move or rename")
            .WithDescription("Renames or moves a file or a whole directory subtree.")
            .ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);
        api.MapPost("/namespace/remove", (RemoveRequest request, NamespaceService s, Caller caller, CancellationToken ct) => s.RemoveAsync(request, caller, ct))
            .WithName("Remove").WithSummary("Remove entries")
            .WithDescription("Removes files and directories per item; subtrees only when recursive.")
            .ProducesProblem(400);
        api.MapPost("/namespace/chmod", (ChangeModeRequest request, NamespaceService s, Caller caller, CancellationToken ct) => s.ChangeModeAsync(request, caller, ct))
            .WithName("ChangeMode").WithSummary("Change mode")
            .WithDescription("Sets the permission bits of a file or directory (owner, data manager or admin).")
            .ProducesProblem(400).ProducesProblem(403).ProducesProblem(404);
        api.MapPost("/namespace/chown", (ChangeOwnerRequest request, NamespaceService s, Caller caller, CancellationToken ct) => s.ChangeOwnerAsync(request, caller, ct))
            .WithName("ChangeOwner").WithSummary("Change owner and group")
            .WithDescription("Gives a file or directory another owner and/or group (data manager or admin).")
            .ProducesProblem(400).ProducesProblem(403).ProducesProblem(404);
        api.MapGet("/usage", (string? path, NamespaceService s, Caller caller, CancellationToken ct) => s.UsageAsync(path, caller, ct))
            .WithName("Usage").WithSummary("Usage per SE")
            .WithDescription("Files and bytes under a directory, in total and per SE.")
            .ProducesProblem(400).ProducesProblem(404);
        return app;
    }
}
