using System.CommandLine;
using System.Globalization;
using Catalog.Contracts;

namespace Catalog.Cli;

internal sealed partial class Commands
{
    private Command WhoAmI() => Define("whoami", "Show the identity, roles, scopes and groups the server sees for your token.", "catalog whoami",
        async (run, ct) =>
        {
            var me = await run.Client.WhoAmIAsync(ct);
            if (run.Json) { Output.WriteJson(run.Out, me); return CatalogCli.Ok; }
            run.Out.WriteLine($"Subject:  {me.Subject}{(me.Authenticated ? "" : " (no token)")}");
            run.Out.WriteLine($"Roles:    {string.Join(", ", me.Roles)}");
            run.Out.WriteLine($"Scopes:   {string.Join(" ", me.Scopes)}");
            run.Out.WriteLine($"Groups:   {string.Join(", ", me.Groups)}");
            if (me.TokenId is { } id) run.Out.WriteLine($"Token id: {id}");
            return CatalogCli.Ok;
        });

    private Command Chmod()
    {
        var mode = new Argument<string>("mode") { Description = "Octal mode, e.g. 775" };
        var path = new Argument<string>("path");
        var recursive = new Option<bool>("--recursive", "-R") { Description = "The directory and everything below it (data managers and admins); files get the mode without x" };
        return Define("chmod", "Set the permission bits of a file or directory (its owner, a data manager or an admin).",
            "catalog chmod 775 /belle/MC/prod1", async (run, ct) =>
            {
                var entry = await run.Client.ChangeModeAsync(run.Get(path)!, ParseMode(run.Get(mode)!, "mode"), run.Get(recursive), ct);
                if (run.Json) Output.WriteJson(run.Out, entry);
                else run.Out.WriteLine(Output.Changed(entry) + (run.Get(recursive) ? ", and everything below it" : ""));
                return CatalogCli.Ok;
            }, mode, path, recursive);
    }

    private Command Chown()
    {
        var owner = new Argument<string>("owner") { Description = "OWNER, OWNER:GROUP or :GROUP" };
        var path = new Argument<string>("path");
        var recursive = new Option<bool>("--recursive", "-R") { Description = "The directory and everything below it" };
        return Define("chown", "Give a file or directory another owner and/or group (data managers and admins).",
            "catalog chown prod-mc15:belle-prod /belle/MC/prod1", async (run, ct) =>
            {
                var spec = run.Get(owner)!;
                var colon = spec.IndexOf(':');
                var (user, group) = colon < 0 ? (spec, null) : (spec[..colon], spec[(colon + 1)..]);
                var entry = await run.Client.ChangeOwnerAsync(run.Get(path)!, user is "" ? null : user, group is "" ? null : group, run.Get(recursive), ct);
                if (run.Json) Output.WriteJson(run.Out, entry);
                else run.Out.WriteLine(Output.Changed(entry) + (run.Get(recursive) ? ", and everything below it" : ""));
                return CatalogCli.Ok;
            }, owner, path, recursive);
    }

    private Command Token()
    {
        var token = new Command("token", "Tokens for people and jobs (admin only): issue, list, revoke.");
        Examples[token] = "catalog token issue prod-mc15 --role producer --scope storage.create:/belle/MC/prod1 --lifetime 30d";

        var subject = new Argument<string>("subject") { Description = "The identity, e.g. alice or prod-mc15" };
        var roles = new Option<string[]>("--role") { Description = "reader, producer, data-manager or admin (repeatable)", Required = true };
        var scopes = new Option<string[]>("--scope") { Description = "storage.read|create|modify:/path (repeatable)" };
        var groups = new Option<string[]>("--group") { Description = "Groups for mode bits, primary first (repeatable; default: the subject)" };
        var lifetime = new Option<string>("--lifetime") { Description = "How long it is valid: 90m, 12h, 30d", DefaultValueFactory = _ => "30d" };
        token.Subcommands.Add(Define("issue", "Issue a token; it is printed once (alone on standard output, so it can be captured).",
            "catalog token issue alice --role reader --scope storage.read:/belle --lifetime 90d", async (run, ct) =>
            {
                var issued = await run.Client.IssueTokenAsync(new TokenRequest(run.Get(subject), run.Get(roles), run.Get(scopes) ?? [],
                    run.Get(groups) is { Length: > 0 } g ? g : null, (long)ParseLifetime(run.Get(lifetime)!).TotalSeconds), ct);
                if (run.Json) Output.WriteJson(run.Out, issued);
                else
                {
                    run.Out.WriteLine(issued.Token);
                    console.Error.WriteLine($"catalog: token {issued.Id} for {issued.Subject}, valid until {issued.Expires:u}");
                }
                return CatalogCli.Ok;
            }, subject, roles, scopes, groups, lifetime));

        var of = new Option<string?>("--subject") { Description = "Only this identity's tokens" };
        token.Subcommands.Add(Define("ls", "List issued tokens (never the tokens themselves).", "catalog token ls --subject alice", async (run, ct) =>
        {
            var all = await run.Client.ListTokensAsync(run.Get(of), ct);
            if (run.Json) { Output.WriteJson(run.Out, all); return CatalogCli.Ok; }
            Output.WriteTable(run.Out, ["id", "subject", "roles", "expires", "revoked", "scopes"],
                all.Select(t => (IReadOnlyList<string>)[t.Id.ToString(), t.Subject, string.Join(",", t.Roles), Output.Time(t.Expires),
                    t.Revoked is { } r ? Output.Time(r) : "-", string.Join(" ", t.Scopes)]));
            return CatalogCli.Ok;
        }, of));

        var ids = new Argument<Guid[]>("ids") { Description = "Token ids (see token ls)", Arity = ArgumentArity.ZeroOrMore };
        var whose = new Option<string?>("--subject") { Description = "Every live token of this identity (a leaked production account, a user who left)" };
        token.Subcommands.Add(Define("revoke", "Revoke tokens by id, or every live token of an identity; every server refuses them within seconds.",
            "catalog token revoke --subject prod-mc15", async (run, ct) =>
            {
                var chosen = run.Get(ids) ?? [];
                var subject = run.Get(whose);
                if (chosen.Length == 0 == (subject is null))
                    throw new CliUsageException("token revoke: give token ids or --subject, not both, not neither");
                if (subject is not null)
                    chosen = (await run.Client.ListTokensAsync(subject, ct)).Where(t => t.Revoked is null && t.Expires > DateTimeOffset.UtcNow).Select(t => t.Id).ToArray();
                var revoked = new List<IssuedToken>();
                foreach (var one in chosen) revoked.Add(await run.Client.RevokeTokenAsync(one, ct));
                if (run.Json) { Output.WriteJson(run.Out, revoked); return CatalogCli.Ok; }
                foreach (var r in revoked) run.Out.WriteLine($"revoked token {r.Id} of {r.Subject}: every server refuses it within seconds");
                if (revoked.Count == 0) run.Out.WriteLine($"{subject} has no live token: nothing revoked");
                return CatalogCli.Ok;
            }, ids, whose));
        return token;
    }

    private Command AuditLog()
    {
        var path = new Option<string?>("--path") { Description = "Writes at or under this path" };
        var subject = new Option<string?>("--subject") { Description = "Writes by this identity" };
        var since = new Option<DateTimeOffset?>("--since") { Description = "From this time (ISO 8601)" };
        var until = new Option<DateTimeOffset?>("--until") { Description = "Before this time (ISO 8601)" };
        var limit = new Option<int>("--limit", "-n") { Description = "At most this many records", DefaultValueFactory = _ => 1000 };
        return Define("audit", "Who did what, when and from where (admin only); oldest first.", "catalog audit --path /belle/MC/prod1 --since 2026-11-01",
            async (run, ct) =>
            {
                var max = run.Get(limit);
                if (max < 1) throw new CliUsageException("--limit must be at least 1");
                long? after = null;
                var printed = 0;
                var rows = new List<IReadOnlyList<string>>();
                do
                {
                    var page = await run.Client.AuditAsync(run.Get(path), run.Get(subject), run.Get(since), run.Get(until), after, Math.Min(1000, max - printed), ct);
                    foreach (var r in page.Records)
                    {
                        if (run.Json) Output.WriteJsonLine(run.Out, r);
                        else rows.Add([r.At.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture), r.Subject, r.Action, r.Outcome, r.Path ?? "-",
                            r.Detail?.ToJsonString() ?? "", r.Remote ?? ""]);
                    }
                    printed += page.Records.Count;
                    after = page.Next;
                } while (after is not null && printed < max);
                if (!run.Json) Output.WriteTable(run.Out, ["at (utc)", "subject", "action", "outcome", "path", "detail", "from"], rows);
                return CatalogCli.Ok;
            }, path, subject, since, until, limit);
    }

    /// <summary>A duration such as 90m, 12h, 30d; refusals name <paramref name="option"/>.</summary>
    private static TimeSpan ParseLifetime(string text, string option = "--lifetime") =>
        text.Length > 1 && long.TryParse(text[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? text[^1] switch
        {
            'd' => TimeSpan.FromDays(n), 'h' => TimeSpan.FromHours(n), 'm' => TimeSpan.FromMinutes(n), 's' => TimeSpan.FromSeconds(n),
            _ => throw new CliUsageException($"{option} '{text}': use a number with d, h, m or s"),
        } : throw new CliUsageException($"{option} '{text}': use a number with d, h, m or s");
}
