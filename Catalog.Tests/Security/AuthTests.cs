using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Catalog.Api.Security;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Catalog.Tests.Security;

/// <summary>
/// Who may do what, through both doors. REST and GraphQL reach the same services, and each test
/// checks a refusal at the door and that nothing changed behind it.
/// </summary>
[Collection(CatalogCollection.Name)]
public class AuthTests(CatalogFixture fx)
{
    private const string RegisterMutation = """
        mutation($files: [NewFileInput!]!) { registerFiles(files: $files) { created failed results { error { code } } } }
        """;

    public enum Door { Rest, GraphQL }

    private HttpClient Http(string? token)
    {
        var http = fx.Factory.CreateClient();
        if (token is not null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    /// <summary>Registers one file through a door; answers the HTTP status and the error code the door gave.</summary>
    private async Task<(HttpStatusCode Status, string? Code)> RegisterThrough(Door door, string? token, string lfn, string se)
    {
        using var http = Http(token);
        var file = new { lfn, size = 10, adler32 = "0000000a", replicas = new[] { new { se } } };
        HttpResponseMessage response = door == Door.Rest
            ? await http.PostAsJsonAsync("api/v1/files", new { files = new[] { file } })
            : await http.PostAsJsonAsync("graphql", new { query = RegisterMutation, variables = new { files = new[] { file } } });
        return (response.StatusCode, await CodeOf(response));
    }

    private async Task<(HttpStatusCode Status, string? Code)> StatThrough(Door door, string? token, string path)
    {
        using var http = Http(token);
        HttpResponseMessage response = door == Door.Rest
            ? await http.GetAsync($"api/v1/namespace/stat?path={Uri.EscapeDataString(path)}")
            : await http.PostAsJsonAsync("graphql", new { query = "query($p: String!) { stat(path: $p) { name } }", variables = new { p = path } });
        return (response.StatusCode, await CodeOf(response));
    }

    /// <summary>
    /// The error code of an answer: ProblemDetails carry it at the top (REST, and both doors when
    /// the token itself is refused before any endpoint runs); GraphQL errors in extensions; a batch
    /// answered per item, in its first item's error. Null only for an answer without any error.
    /// </summary>
    private static async Task<string?> CodeOf(HttpResponseMessage response)
    {
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = body.RootElement;
        if (root.TryGetProperty("code", out var c)) return c.GetString();
        if (root.TryGetProperty("errors", out var e)) return e[0].GetProperty("extensions").GetProperty("code").GetString();
        var batch = root.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Object && data.TryGetProperty("registerFiles", out var r) ? r : root;
        return batch.ValueKind == JsonValueKind.Object && batch.TryGetProperty("results", out var results) && results.GetArrayLength() > 0
            && results[0].TryGetProperty("error", out var item) && item.ValueKind == JsonValueKind.Object
            ? item.GetProperty("code").GetString() : null;
    }

    private async Task<bool> ExistsAsync(string lfn)
    {
        try { await fx.Client.StatAsync(lfn); return true; }
        catch (CatalogNotFoundException) { return false; }
    }

    /// <summary>A production area: /…/MC/prod1 and prod2, each owned by its producer.</summary>
    private async Task<(string Base, string Se)> ProductionAreaAsync()
    {
        var se = await fx.NewStorageElementAsync();
        var root = TestData.Dir("auth") + "/MC";
        foreach (var prod in new[] { "prod1", "prod2" })
        {
            await fx.Client.MakeDirectoryAsync($"{root}/{prod}", parents: true);
            await fx.Client.ChangeOwnerAsync($"{root}/{prod}", "producer-" + prod, "belle-prod");
        }
        return (root, se);
    }

    [Theory]
    [InlineData(Door.Rest)]
    [InlineData(Door.GraphQL)]
    public async Task No_token_is_401_and_nothing_changes(Door door)
    {
        var (root, se) = await ProductionAreaAsync();
        var lfn = $"{root}/prod1/a.root";

        Assert.Equal((HttpStatusCode.Unauthorized, "UNAUTHORIZED"), await RegisterThrough(door, null, lfn, se));
        Assert.Equal((HttpStatusCode.Unauthorized, "UNAUTHORIZED"), await StatThrough(door, null, root));
        Assert.False(await ExistsAsync(lfn));
    }

    public static TheoryData<Door, string> BadTokens => new()
    {
        { Door.Rest, "expired" }, { Door.Rest, "wrong-key" }, { Door.Rest, "wrong-audience" }, { Door.Rest, "wrong-issuer" },
        { Door.Rest, "alg-none" }, { Door.Rest, "garbage" },
        { Door.GraphQL, "expired" }, { Door.GraphQL, "wrong-key" }, { Door.GraphQL, "wrong-audience" }, { Door.GraphQL, "wrong-issuer" },
        { Door.GraphQL, "alg-none" }, { Door.GraphQL, "garbage" },
    };

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task Expired_wrongly_signed_wrong_audience_and_unsigned_tokens_are_401(Door door, string kind)
    {
        var (root, se) = await ProductionAreaAsync();
        var token = MakeBadToken(kind);
        var lfn = $"{root}/prod1/a.root";

        var (status, code) = await RegisterThrough(door, token, lfn, se);

        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("UNAUTHORIZED", code);
        Assert.False(await ExistsAsync(lfn));
    }

    [Theory]
    [InlineData("expired", "token expired at 20")]
    [InlineData("wrong-key", "not signed by any of this catalog's keys")]
    [InlineData("wrong-audience", "this catalog accepts audience 'catalog'")]
    [InlineData("wrong-issuer", "this catalog accepts issuer 'catalog'")]
    [InlineData("alg-none", "token is not signed")]
    [InlineData("garbage", "not a token")]
    public async Task A_refused_token_is_explained_in_plain_words(string kind, string expected)
    {
        var http = fx.Factory.CreateClient();
        http.DefaultRequestHeaders.Authorization = new("Bearer", MakeBadToken(kind));
        using var response = await http.GetAsync("api/v1/whoami");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var detail = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString()!;
        Assert.StartsWith("invalid token: ", detail);
        Assert.Contains(expected, detail);
        Assert.DoesNotContain("IDX", detail);
        Assert.DoesNotContain("PII", detail);
        if (kind == "expired")
        {
            // The time named is the token's own expiry (an hour ago, to the second).
            var at = DateTimeOffset.Parse(detail["invalid token: token expired at ".Length..].Split(';')[0], System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(DateTimeOffset.UtcNow - at, TimeSpan.FromMinutes(55), TimeSpan.FromMinutes(65));
        }
    }

    /// <summary>Admin-strength claims, spoiled one way each.</summary>
    private string MakeBadToken(string kind)
    {
        var claims = new Dictionary<string, object>
        {
            ["sub"] = "mallory", ["jti"] = Guid.NewGuid().ToString(), ["roles"] = new[] { "admin" }, ["scope"] = "storage.modify:/ storage.read:/",
        };
        var serverKey = fx.Factory.Services.GetRequiredService<SigningKeys>().Signing!;
        var otherKey = new SigningCredentials(new ECDsaSecurityKey(ECDsa.Create(ECCurve.NamedCurves.nistP256)), SecurityAlgorithms.EcdsaSha256);
        var now = DateTime.UtcNow;
        SecurityTokenDescriptor Descriptor(SigningCredentials key, string issuer = "catalog", string audience = "catalog", DateTime? expires = null) => new()
        {
            Issuer = issuer, Audience = audience, Claims = claims, SigningCredentials = key,
            IssuedAt = now.AddHours(-2), NotBefore = now.AddHours(-2), Expires = expires ?? now.AddHours(1),
        };
        // Signed in low-S form, as the catalog signs: each token is refused for its one fault only.
        var handler = new JsonWebTokenHandler();
        string Create(SecurityTokenDescriptor d) => Catalog.Api.Security.VerifiedTokenCache.Canonical(handler.CreateToken(d));
        static string B64(string json) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(json));
        return kind switch
        {
            "expired" => Create(Descriptor(serverKey, expires: now.AddHours(-1))),
            "wrong-key" => Create(Descriptor(otherKey)),
            "wrong-audience" => Create(Descriptor(serverKey, audience: "someone-else")),
            "wrong-issuer" => Create(Descriptor(serverKey, issuer: "https://evil.example")),
            "alg-none" => B64("""{"alg":"none","typ":"JWT"}""") + "." +
                B64(JsonSerializer.Serialize(new Dictionary<string, object>(claims)
                {
                    ["iss"] = "catalog", ["aud"] = "catalog", ["exp"] = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds(),
                })) + ".",
            _ => "not.a.token",
        };
    }

    [Theory]
    [InlineData(Door.Rest)]
    [InlineData(Door.GraphQL)]
    public async Task A_producer_registers_under_its_scope_and_nowhere_else(Door door)
    {
        var (root, se) = await ProductionAreaAsync();
        var token = await fx.IssueTokenAsync("producer-prod1", ["producer"], [$"storage.create:{root}/prod1", $"storage.read:{root}/prod1"], ["belle-prod"]);

        Assert.Equal(HttpStatusCode.OK, (await RegisterThrough(door, token, $"{root}/prod1/sub00/ok.root", se)).Status);
        Assert.True(await ExistsAsync($"{root}/prod1/sub00/ok.root"));

        foreach (var lfn in new[] { $"{root}/prod2/x.root", $"{root}/prod1x/x.root", $"{root}/x.root" })
        {
            Assert.Equal((HttpStatusCode.Forbidden, "FORBIDDEN"), await RegisterThrough(door, token, lfn, se));
            Assert.False(await ExistsAsync(lfn));
        }

        // ".." never reaches the permission check: the LFN itself is refused, and nothing lands in prod2.
        var (_, code) = await RegisterThrough(door, token, $"{root}/prod1/../prod2/y.root", se);
        Assert.Equal("INVALID_LFN", code);
        Assert.False(await ExistsAsync($"{root}/prod2/y.root"));
        using var http = Http(token);
        var listing = await http.GetAsync($"api/v1/directories?path={Uri.EscapeDataString(root + "/prod2")}");
        Assert.Equal(HttpStatusCode.Forbidden, listing.StatusCode);
    }

    [Fact]
    public async Task A_batch_with_one_file_outside_the_scope_stores_nothing()
    {
        var (root, se) = await ProductionAreaAsync();
        var token = await fx.IssueTokenAsync("producer-prod1", ["producer"], [$"storage.create:{root}/prod1"], ["belle-prod"]);

        var e = await Assert.ThrowsAsync<CatalogForbiddenException>(() => fx.ClientWith(token).RegisterAsync(
            [TestData.File($"{root}/prod1/a.root", se), TestData.File($"{root}/prod2/b.root", se)]));

        Assert.Contains($"{root}/prod2/b.root", e.Message);
        Assert.False(await ExistsAsync($"{root}/prod1/a.root"));
    }

    [Fact]
    public async Task Roles_bound_what_a_scope_allows()
    {
        var (root, se) = await ProductionAreaAsync();
        await fx.Client.RegisterAsync([TestData.File($"{root}/prod1/a.root", se)]);
        var reader = fx.ClientWith(await fx.IssueTokenAsync("reader-1", ["reader"], [$"storage.modify:{root}", $"storage.read:{root}"]));
        var producer = fx.ClientWith(await fx.IssueTokenAsync("producer-prod1", ["producer"], [$"storage.modify:{root}", $"storage.read:{root}"], ["belle-prod"]));

        Assert.Equal("a.root", (await reader.StatAsync($"{root}/prod1/a.root")).Name);
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => reader.MakeDirectoryAsync($"{root}/prod1/new"));
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => producer.RemoveAsync([$"{root}/prod1/a.root"]));
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => producer.SetReplicaStateAsync([new ReplicaRef($"{root}/prod1/a.root", se, State: ReplicaState.Bad)]));
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => producer.PutStorageElementAsync("EVIL-SE", new StorageElementSpec("X", "root", "root://evil//x")));
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => producer.IssueTokenAsync(new TokenRequest("me", ["admin"], [])));
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => producer.AuditAsync());
        Assert.True(await ExistsAsync($"{root}/prod1/a.root"));
        Assert.Equal(ReplicaState.Available, (await fx.Client.ListReplicasAsync($"{root}/prod1/a.root")).Single().State);

        var manager = fx.ClientWith(await fx.IssueTokenAsync("dm-1", ["data-manager"], [$"storage.modify:{root}", $"storage.read:{root}"]));
        Assert.Equal(ReplicaOutcome.Updated, (await manager.SetReplicaStateAsync([new ReplicaRef($"{root}/prod1/a.root", se, State: ReplicaState.Bad)])).Results[0].Outcome);
        Assert.Equal(RemoveStatus.Removed, (await manager.RemoveAsync([$"{root}/prod1/a.root"])).Results[0].Status);
    }

    [Fact]
    public async Task Mode_bits_decide_for_readers_and_producers_and_new_entries_inherit_the_group()
    {
        var (root, se) = await ProductionAreaAsync();
        var other = fx.ClientWith(await fx.IssueTokenAsync("producer-prod2", ["producer"], [$"storage.create:{root}", $"storage.read:{root}"], ["belle-prod"]));

        // prod1 belongs to producer-prod1, group belle-prod, mode 0755: the group may read, not write.
        Assert.Equal("producer-prod1", (await other.StatAsync($"{root}/prod1")).Owner);
        var refused = await Assert.ThrowsAsync<CatalogForbiddenException>(() => other.RegisterAsync([TestData.File($"{root}/prod1/x.root", se)]));
        Assert.Contains("mode 755", refused.Message);

        await fx.ClientWith(await fx.IssueTokenAsync("producer-prod1", ["producer"], [$"storage.create:{root}/prod1"], ["belle-prod"]))
            .ChangeModeAsync($"{root}/prod1", 0x1FD); // 0775, by its owner
        Assert.Equal(ItemStatus.Created, (await other.RegisterAsync([TestData.File($"{root}/prod1/deep/x.root", se)])).Results[0].Status);
        var created = await fx.Client.StatAsync($"{root}/prod1/deep");
        Assert.Equal(("producer-prod2", "belle-prod", 0x1FD), (created.Owner, created.Group, created.Mode));
        var file = await fx.Client.GetFileAsync($"{root}/prod1/deep/x.root");
        Assert.Equal(("producer-prod2", "belle-prod", 0x1B4), (file.Owner, file.Group, file.Mode)); // 0664: no execute bits

        // Nobody but the owner (or a data manager) changes a mode; only data managers change owners.
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => other.ChangeModeAsync($"{root}/prod1", 0x1FF));
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => other.ChangeOwnerAsync($"{root}/prod1", "producer-prod2", null));
    }

    [Fact]
    public async Task Bulk_lookups_answer_out_of_scope_lfns_per_item()
    {
        var (root, se) = await ProductionAreaAsync();
        await fx.Client.RegisterAsync([TestData.File($"{root}/prod1/a.root", se), TestData.File($"{root}/prod2/b.root", se)]);
        var reader = fx.ClientWith(await fx.IssueTokenAsync("reader-1", ["reader"], [$"storage.read:{root}/prod1"]));

        var results = await reader.LookupAsync([$"{root}/prod1/a.root", $"{root}/prod2/b.root"]).ToListAsync();

        Assert.Null(results[0].Error);
        Assert.Equal(ErrorCode.Forbidden, results[1].Error!.Code);
        Assert.Null(results[1].Replicas);
    }

    [Fact]
    public async Task A_revoked_token_is_refused()
    {
        var admin = fx.Client;
        var issued = await admin.IssueTokenAsync(new TokenRequest("shortlived", ["reader"], ["storage.read:/belle"], LifetimeSeconds: 600));
        var client = fx.ClientWith(issued.Token);
        Assert.Equal("shortlived", (await client.WhoAmIAsync()).Subject);

        var revoked = await admin.RevokeTokenAsync(issued.Id);
        Assert.NotNull(revoked.Revoked);

        var e = await Assert.ThrowsAsync<CatalogUnauthorizedException>(() => client.WhoAmIAsync());
        Assert.Contains("revoked", e.Message);
        Assert.Contains(await admin.ListTokensAsync("shortlived"), t => t.Id == issued.Id && t.Revoked is not null && t.Token is null);
    }

    [Fact]
    public async Task Chmod_and_chown_are_decided_alike_through_GraphQL()
    {
        var (root, _) = await ProductionAreaAsync();
        const string chmod = "mutation($p: String!) { changeMode(path: $p, mode: 509) { mode owner } }";
        using var other = Http(await fx.IssueTokenAsync("producer-prod2", ["producer"], [$"storage.create:{root}"], ["belle-prod"]));
        using var refused = await other.PostAsJsonAsync("graphql", new { query = chmod, variables = new { p = $"{root}/prod1" } });
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal("FORBIDDEN", await CodeOf(refused));
        using var owner = Http(await fx.IssueTokenAsync("producer-prod1", ["producer"], [$"storage.create:{root}/prod1"], ["belle-prod"]));
        using var done = await owner.PostAsJsonAsync("graphql", new { query = chmod, variables = new { p = $"{root}/prod1" } });
        Assert.Contains("\"mode\":509", await done.Content.ReadAsStringAsync());
        using var chown = await owner.PostAsJsonAsync("graphql", new { query = "mutation($p: String!) { changeOwner(path: $p, owner: \"me\") { owner } }", variables = new { p = $"{root}/prod1" } });
        Assert.Equal(HttpStatusCode.Forbidden, chown.StatusCode);
    }

    [Fact]
    public async Task A_refused_write_is_audited_as_denied()
    {
        var who = "intruder-" + Guid.NewGuid().ToString("N")[..8];
        var token = await fx.IssueTokenAsync(who, ["reader"], ["storage.read:/belle"]);
        var intruder = fx.ClientWith(token);
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => intruder.MakeDirectoryAsync("/belle/t/not-yours"));
        var records = await PollAuditAsync(who, 1);
        var denied = Assert.Single(records);
        Assert.Equal(("POST /api/v1/directories", "denied"), (denied.Action, denied.Outcome));
        Assert.Equal("FORBIDDEN", (string)denied.Detail!["code"]!);

        // The same refusal through GraphQL leaves the same trace.
        using var graph = await Http(token).PostAsJsonAsync("graphql", new { query = """mutation { makeDirectory(path: "/belle/t/not-yours-either") { path } }""" });
        Assert.Equal(HttpStatusCode.Forbidden, graph.StatusCode);
        var both = await PollAuditAsync(who, 2);
        Assert.Contains(both, r => r is { Action: "graphql makeDirectory", Outcome: "denied" });
    }

    [Fact]
    public async Task Token_requests_are_validated_and_the_token_says_what_it_grants()
    {
        var issued = await fx.Client.IssueTokenAsync(new TokenRequest("alice", ["reader", "producer"], ["storage.read:/belle", "storage.create:/belle/user/alice"], ["belle"], 3600));
        var me = await fx.ClientWith(issued.Token).WhoAmIAsync();
        Assert.Equal(("alice", true), (me.Subject, me.Authenticated));
        Assert.Equal(["reader", "producer"], me.Roles);
        Assert.Equal(["storage.read:/belle", "storage.create:/belle/user/alice"], me.Scopes);

        foreach (var (request, field) in new (TokenRequest, string)[]
        {
            (new("", ["reader"], []), "subject"),
            (new("bob", ["king"], []), "roles[0]"),
            (new("bob", [], []), "roles"),
            (new("bob", ["reader"], ["storage.read:/belle/../etc"]), "scopes[0]"),
            (new("bob", ["reader"], ["storage.delete:/belle"]), "scopes[0]"),
            (new("bob", ["reader"], [], LifetimeSeconds: 10), "lifetimeSeconds"),
            (new("bob", ["reader"], [], LifetimeSeconds: 100_000_000), "lifetimeSeconds"),
        })
        {
            var e = await Assert.ThrowsAsync<CatalogValidationException>(() => fx.Client.IssueTokenAsync(request));
            Assert.Equal(field, e.Field);
        }
    }

    [Fact]
    public async Task Public_read_roots_let_anyone_read_there_and_nowhere_else()
    {
        await using var server = fx.CreateFactory(new Dictionary<string, string?> { ["Catalog:Auth:PublicReadRoots:0"] = "/test" });
        var anonymous = new CatalogClient(server.CreateClient());
        var dir = "/test/public-" + Guid.NewGuid().ToString("N");
        await fx.Client.MakeDirectoryAsync(dir);
        var se = await fx.NewStorageElementAsync(); // its own, not whatever other tests left in the registry

        Assert.Equal(dir, (await anonymous.StatAsync(dir)).Path);
        Assert.Contains(await anonymous.ListStorageElementsAsync(), s => s.Name == se);
        await Assert.ThrowsAsync<CatalogUnauthorizedException>(() => anonymous.StatAsync("/belle"));
        await Assert.ThrowsAsync<CatalogUnauthorizedException>(() => anonymous.MakeDirectoryAsync(dir + "/x"));
        Assert.False(await ExistsAsync(dir + "/x"));

        // Public means readable by "other", not beyond the modes: a closed directory stays closed to anonymous readers.
        await fx.Client.MakeDirectoryAsync(dir + "/private/inner", parents: true);
        await fx.Client.ChangeModeAsync(dir + "/private", Convert.ToInt32("700", 8));
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => anonymous.StatAsync(dir + "/private/inner"));
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => anonymous.ListPageAsync(dir + "/private"));
        Assert.DoesNotContain("private", (await anonymous.ListPageAsync(dir)).Entries.Select(e => e.Name));
    }

    [Fact]
    public async Task Rate_limits_answer_429_with_retry_after_naming_the_limit()
    {
        await using var server = fx.CreateFactory(new Dictionary<string, string?>
        {
            ["Catalog:Auth:RateLimit:PermitsPerSecond"] = "1",
            ["Catalog:Auth:RateLimit:Burst"] = "3",
        });
        var token = await fx.IssueTokenAsync("chatty", ["reader"], ["storage.read:/"]);
        using var http = server.CreateClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? refused = null;
        for (var i = 0; i < 6; i++)
        {
            var response = await http.GetAsync("api/v1/whoami");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests) refused = response;
        }

        Assert.Equal(HttpStatusCode.OK, statuses[0]);
        Assert.NotNull(refused);
        Assert.True(refused.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        var problem = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("RATE_LIMITED", problem.GetProperty("code").GetString());
        Assert.Contains("Catalog:Auth:RateLimit", problem.GetProperty("detail").GetString());
        // Another identity has its own bucket.
        Assert.Equal(HttpStatusCode.OK, (await Http(fx.AdminToken).GetAsync("api/v1/whoami")).StatusCode);
    }

    [Fact]
    public async Task GraphQL_refuses_deep_and_costly_documents_before_running_them()
    {
        var deep = "{ __schema { types { fields { type { " + string.Concat(Enumerable.Repeat("ofType { ", 20)) + "name"
            + string.Concat(Enumerable.Repeat(" }", 20)) + " } } } } }";
        using var tooDeep = await fx.Client.GraphQLAsync(deep);
        var error = tooDeep.RootElement.GetProperty("errors")[0].GetProperty("message").GetString();
        Assert.Contains("depth", error, StringComparison.OrdinalIgnoreCase);
        Assert.False(tooDeep.RootElement.TryGetProperty("data", out var data) && data.ValueKind != JsonValueKind.Null);

        // Small in tokens, costly in what it would fetch: refused by the cost analysis.
        var costly = "{ " + string.Join(' ', Enumerable.Range(0, 60).Select(i =>
            $"a{i}: __schema {{ types {{ name fields {{ name args {{ name type {{ fields {{ name }} }} }} type {{ name kind fields {{ name }} }} }} }} }}")) + " }";
        using var tooCostly = await fx.Client.GraphQLAsync(costly);
        Assert.Contains("complexity", tooCostly.RootElement.GetProperty("errors")[0].GetProperty("message").GetString(), StringComparison.OrdinalIgnoreCase);

        // Cheap in the answer, costly in the database: every root field is a database read, so
        // 100 aliased usage fields (100 queries) are refused, while 20 run.
        string Usages(int n) => "{ " + string.Join(' ', Enumerable.Range(0, n).Select(i => $"u{i}: usage(path: \"/belle\") {{ files }}")) + " }";
        using var manyReads = await fx.Client.GraphQLAsync(Usages(100));
        Assert.Contains("complexity", manyReads.RootElement.GetProperty("errors")[0].GetProperty("message").GetString(), StringComparison.OrdinalIgnoreCase);
        using var someReads = await fx.Client.GraphQLAsync(Usages(20));
        Assert.False(someReads.RootElement.TryGetProperty("errors", out _));
        Assert.Equal(20, someReads.RootElement.GetProperty("data").EnumerateObject().Count());

        // Large in tokens: refused before it is parsed (30,000 fields once took 26 s of CPU in validation).
        var huge = "{ " + string.Concat(Enumerable.Repeat("__typename ", 30_000)) + "}";
        var refused = await Assert.ThrowsAsync<CatalogValidationException>(() => fx.Client.GraphQLAsync(huge));
        Assert.Equal(ErrorCode.LimitExceeded, refused.Code);
        Assert.Equal("query", refused.Field);

        var nested = new string('{', 10_000) + new string('}', 10_000);
        Assert.Equal(ErrorCode.LimitExceeded, (await Assert.ThrowsAsync<CatalogValidationException>(() => fx.Client.GraphQLAsync(nested))).Code);
        var nestedSmall = new string('{', 1_000) + new string('}', 1_000);
        using var absurd = await fx.Client.GraphQLAsync(nestedSmall);
        Assert.Equal("SYNTAX_ERROR", absurd.RootElement.GetProperty("errors")[0].GetProperty("extensions").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Every_write_leaves_an_audit_record_with_who_what_where_and_the_request()
    {
        var who = "auditor-" + Guid.NewGuid().ToString("N")[..8];
        var token = await fx.IssueTokenAsync(who, ["admin"], []);
        var client = fx.ClientWith(token);
        var dir = TestData.Dir("audit");
        var se = $"AUD-{Guid.NewGuid():N}"[..16];

        await client.PutStorageElementAsync(se, new StorageElementSpec("TEST", "root", "root://audit.test//data"));
        await client.MakeDirectoryAsync(dir + "/d", parents: true);
        await client.RegisterAsync([TestData.File($"{dir}/d/a.root", se), TestData.File($"{dir}/d/b.root", se)]);
        await client.SetReplicaStateAsync([new ReplicaRef($"{dir}/d/a.root", se, State: ReplicaState.Bad)]);
        await client.RemoveReplicasAsync([new ReplicaRef($"{dir}/d/b.root", se)]);
        await client.AddReplicasAsync([new ReplicaRef($"{dir}/d/b.root", se)]);
        await client.ChangeModeAsync($"{dir}/d", 0x1FD);
        await client.ChangeOwnerAsync($"{dir}/d", "someone", null);
        await client.MoveAsync($"{dir}/d", $"{dir}/e");
        await client.RemoveAsync([$"{dir}/e"], recursive: true);
        var issued = await client.IssueTokenAsync(new TokenRequest("temp", ["reader"], []));
        await client.RevokeTokenAsync(issued.Id);

        string[] expected = ["se.put", "mkdir", "register", "replica.state", "replica.remove", "replica.add", "chmod", "chown", "move", "remove", "token.issue", "token.revoke"];
        var records = await PollAuditAsync(who, expected.Length + 3);
        Assert.Equal(expected, records.Select(r => r.Action).Distinct());
        Assert.All(records, r => Assert.Equal(who, r.Subject));
        Assert.All(records, r => Assert.False(string.IsNullOrEmpty(r.RequestId)));
        // One token, twelve requests: each event carries its own request's id (the caller is shared, its request is not).
        Assert.Equal(expected.Length, records.Select(r => r.RequestId).Distinct().Count());
        Assert.Contains(records, r => r.Action == "register" && r.Path == $"{dir}/d/b.root" && r.Outcome == "created");
        Assert.Contains(records, r => r.Action == "move" && r.Detail!["to"]!.GetValue<string>() == $"{dir}/e");

        // Queryable by path (a directory and everything under it) and time range.
        var underD = await fx.Client.AuditAsync(path: $"{dir}/d", from: DateTimeOffset.UtcNow.AddMinutes(-5));
        Assert.Contains(underD.Records, r => r.Path == $"{dir}/d/a.root" && r.Action == "replica.state");
        Assert.DoesNotContain(underD.Records, r => r.Path == $"{dir}/e");
        Assert.Empty((await fx.Client.AuditAsync(subject: who, to: DateTimeOffset.UtcNow.AddHours(-1))).Records);
    }

    private async Task<IReadOnlyList<AuditRecord>> PollAuditAsync(string subject, int atLeast)
    {
        for (var i = 0; ; i++)
        {
            var page = await fx.Client.AuditAsync(subject: subject);
            if (page.Records.Count >= atLeast || i == 50) return page.Records;
            await Task.Delay(100);
        }
    }
}
