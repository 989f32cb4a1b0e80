using Catalog.Contracts;

namespace Catalog.Api.Security;

public static class TokensApi
{
    public static IEndpointRouteBuilder MapTokensApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").WithTags("Security");
        api.MapGet("/whoami", (Caller caller) => caller.ToWhoAmI())
            .WithName("WhoAmI").WithSummary("Who am I")
            .WithDescription("The identity, roles, scopes and groups the server sees for this request.");
        api.MapPost("/tokens", (TokenRequest request, TokenService tokens, Caller caller, CancellationToken ct) => tokens.IssueAsync(request, caller, ct))
            .WithName("IssueToken").WithSummary("Issue token")
            .WithDescription("Issues a token for an identity with roles, scopes, groups and a lifetime (admin only). The token is shown once.")
            .ProducesProblem(400).ProducesProblem(401).ProducesProblem(403);
        api.MapGet("/tokens", (string? subject, TokenService tokens, Caller caller, CancellationToken ct) => tokens.ListAsync(subject, caller, ct))
            .WithName("ListTokens").WithSummary("List tokens")
            .WithDescription("Tokens this catalog issued, without the tokens themselves (admin only).");
        api.MapDelete("/tokens/{id:guid}", (Guid id, TokenService tokens, Caller caller, CancellationToken ct) => tokens.RevokeAsync(id, caller, ct))
            .WithName("RevokeToken").WithSummary("Revoke token")
            .WithDescription("Revokes a token by id; every server refuses it within Catalog:Auth:RevocationRefresh (admin only).")
            .ProducesProblem(404);
        return app;
    }

    /// <summary>
    /// <c>Catalog.Api token issue --subject S --role R [--role R2] [--scope storage.read:/p] [--group G] [--lifetime 30d]</c>:
    /// issues a token from the server's own key without a caller (for the first admin token).
    /// Prints the token alone on standard output.
    /// </summary>
    public static async Task<int> RunCommandAsync(WebApplication app, string[] args)
    {
        string? subject = null;
        List<string> roles = [], scopes = [], groups = [];
        var lifetime = TimeSpan.FromDays(30);
        for (var i = 2; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--subject": subject = Next(); break;
                case "--role": roles.Add(Next()); break;
                case "--scope": scopes.Add(Next()); break;
                case "--group": groups.Add(Next()); break;
                case "--lifetime": lifetime = ParseLifetime(Next()); break;
                case "--contentRoot": Next(); break; // the host's own option
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        if (args.Length < 2 || args[1] != "issue") throw new ArgumentException("usage: token issue --subject S --role R [--scope S] [--group G] [--lifetime 30d]");
        var tokens = app.Services.GetRequiredService<TokenService>();
        var spec = tokens.Validate(new TokenRequest(subject, roles, scopes, groups, (long)lifetime.TotalSeconds));
        var issued = await tokens.IssueUncheckedAsync(spec, "catalog-cli", CancellationToken.None);
        Console.WriteLine(issued.Token);
        return 0;
    }

    private static TimeSpan ParseLifetime(string text) =>
        text.Length > 1 && long.TryParse(text[..^1], out var n) && n > 0 ? text[^1] switch
        {
            'd' => TimeSpan.FromDays(n), 'h' => TimeSpan.FromHours(n), 'm' => TimeSpan.FromMinutes(n), 's' => TimeSpan.FromSeconds(n),
            _ => throw new ArgumentException($"--lifetime '{text}': use a number with d, h, m or s"),
        } : throw new ArgumentException($"--lifetime '{text}': use a number with d, h, m or s");
}
