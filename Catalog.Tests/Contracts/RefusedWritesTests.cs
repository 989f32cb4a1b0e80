using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;
using Dapper;
using Npgsql;

namespace Catalog.Tests.Contracts;

/// <summary>
/// A refused request stores nothing, on every write endpoint of the OpenAPI document: sent without a
/// token, with a reader's token, and with bodies that are wrong in form (a missing field, a field of
/// the wrong kind, an unknown field) and in substance (a missing entry, an SE that does not exist, a
/// value the schema refuses, a closed dataset), each answer is a 4xx (or per-item failures) and no
/// row of the catalog's tables is inserted, updated or deleted. The same endpoint's valid request
/// then changes something, which shows the check would have seen a change.
/// </summary>
[Collection(CatalogCollection.Name)]
public class RefusedWritesTests(CatalogFixture fx)
{
    /// <summary>Everything a write may touch; audit records (refusals are audited), idempotency keys and cache epochs are left out.</summary>
    private static readonly string[] Tables =
    [
        "directory", "file", "replica", "file_parent", "dataset", "collection_member", "attribute_def", "metadata_policy",
        "storage_element", "directory_usage", "se_usage", "change", "issued_token",
    ];

    /// <summary>POSTs that only read.</summary>
    private static readonly string[] Reads =
    [
        "POST /api/v1/facets", "POST /api/v1/facets/explain", "POST /api/v1/metadata/get", "POST /api/v1/query",
        "POST /api/v1/query/explain", "POST /api/v1/query/stream", "POST /api/v1/replicas/lookup",
    ];

    private sealed record World(string Area, string Se, string Se2, string Spare, Guid Token)
    {
        public string Dir => $"{Area}/dir";
        public string File => $"{Area}/dir/f.root";
        public string Open => $"{Area}/open";
        public string Closed => $"{Area}/closed";
        public string Held => $"{Area}/held";
    }

    private sealed record Case(string Method, string Route, Func<World, string> Valid, Func<World, string[]> Refused, Func<World, string>? Target = null);

    private static readonly Case[] Cases =
    [
        new("POST", "/api/v1/collections",
            w => $$$"""{"path": "{{{w.Area}}}/coll", "members": ["{{{w.Closed}}}"]}""",
            w => [$$$"""{"path": "{{{w.Area}}}/coll", "members": ["{{{w.Open}}}"]}""", $$$"""{"path": "{{{w.Area}}}/coll", "members": ["{{{w.Area}}}/none"]}""",
                  $$$"""{"path": "{{{w.Area}}}/coll", "members": ["{{{w.Closed}}}"], "nope": 1}""", $$$"""{"path": "{{{w.Area}}}/coll", "members": "{{{w.Closed}}}"}""", "{}"]),
        new("POST", "/api/v1/datasets",
            w => $$$"""{"path": "{{{w.Area}}}/new/ds"}""",
            w => [$$$"""{"path": "{{{w.Area}}}/new/ds", "metadata": {"rfCampaign": "B"}}""", $$$"""{"path": "{{{w.Area}}}/new/ds", "metadata": {"rfEvents": 1}}""",
                  $$$"""{"path": "{{{w.Open}}}", "metadata": {"rfCampaign": "A"}}""", $$$"""{"path": "{{{w.Area}}}/new/ds", "maxFilesPerBlock": "x"}""",
                  $$$"""{"path": "{{{w.Area}}}/new/ds", "maxFilesPerBlock": 0}""", $$$"""{"path": "{{{w.File}}}/ds"}""", """{"path": "relative/ds"}"""]),
        new("POST", "/api/v1/datasets/close",
            w => $$$"""{"path": "{{{w.Open}}}"}""",
            w => [$$$"""{"path": "{{{w.Area}}}/none"}""", $$$"""{"path": "{{{w.Dir}}}"}""", "{}"]),
        new("POST", "/api/v1/datasets/lifetime",
            w => $$$"""{"path": "{{{w.Open}}}", "expires": "2031-01-01T00:00:00Z"}""",
            w => [$$$"""{"path": "{{{w.Open}}}", "expires": "yesterday"}""", $$$"""{"path": "{{{w.Area}}}/none", "expires": "2031-01-01T00:00:00Z"}""",
                  $$$"""{"path": "{{{w.Dir}}}", "expires": "2031-01-01T00:00:00Z"}"""]),
        new("POST", "/api/v1/datasets/reopen",
            w => $$$"""{"path": "{{{w.Closed}}}"}""",
            w => [$$$"""{"path": "{{{w.Area}}}/none"}""", $$$"""{"path": "{{{w.Dir}}}"}"""]),
        new("POST", "/api/v1/directories",
            w => $$$"""{"path": "{{{w.Area}}}/a/b", "parents": true}""",
            w => [$$$"""{"path": "{{{w.Area}}}/a/b"}""", $$$"""{"path": "{{{w.File}}}/x", "parents": true}""", """{"path": "no-slash"}""",
                  $$$"""{"path": "{{{w.Area}}}/a", "mode": "999"}""", $$$"""{"path": "{{{w.Area}}}/a", "parents": "yes"}"""]),
        new("POST", "/api/v1/files",
            w => $$$"""{"files": [{"lfn": "{{{w.Dir}}}/g.root", "size": 1, "adler32": "0000000a", "replicas": [{"se": "{{{w.Se}}}"}]}]}""",
            w => [$$$"""{"files": [{"lfn": "{{{w.Dir}}}/g.root", "size": "x", "adler32": "0000000a"}]}""",
                  $$$"""{"files": [{"lfn": "{{{w.Dir}}}/g.root", "size": 1, "adler32": 10}]}""",
                  $$$"""{"files": [{"lfn": "{{{w.Area}}}/new/", "size": 1, "adler32": "0000000a"}]}""",
                  $$$"""{"files": [{"lfn": "{{{w.Area}}}/new/g.root", "size": 1, "adler32": "0000000a", "replicas": [{"se": "NO-SUCH-SE"}]}]}""",
                  $$$"""{"files": [{"lfn": "{{{w.Area}}}/new/g.root", "size": 1, "adler32": "0000000a", "metadata": {"rfEvents": "many"}}]}""",
                  $$$"""{"files": [{"lfn": "{{{w.Area}}}/new/g.root", "size": 1, "adler32": "0000000a", "parents": ["{{{w.Area}}}/none.root"]}]}""",
                  $$$"""{"files": [{"lfn": "g.root", "size": 1, "adler32": "0000000a", "dataset": "{{{w.Closed}}}"}]}""",
                  $$$"""{"files": [{"lfn": "{{{w.Closed}}}/sub00/g.root", "size": 1, "adler32": "0000000a"}]}""",
                  $$$"""{"files": [{"lfn": "{{{w.File}}}", "size": 2, "adler32": "0000000b"}]}""",
                  $$$"""{"files": [{"lfn": "{{{w.Area}}}/new/g.root", "size": 1, "adler32": "0000000a", "replica": [{"se": "{{{w.Se}}}"}]}]}"""]),
        new("POST", "/api/v1/files/correct",
            w => $$$"""{"items": [{"lfn": "{{{w.File}}}", "size": 2, "reason": "registered with the wrong size"}]}""",
            w => [$$$"""{"items": [{"lfn": "{{{w.File}}}", "size": 2}]}""", $$$"""{"items": [{"lfn": "{{{w.Area}}}/none.root", "size": 2, "reason": "r"}]}""",
                  $$$"""{"items": [{"lfn": "{{{w.File}}}", "size": -2, "reason": "r"}]}""", $$$"""{"items": [{"lfn": "{{{w.File}}}", "status": "gone", "reason": "r"}]}"""]),
        new("POST", "/api/v1/metadata",
            w => $$$"""{"items": [{"path": "{{{w.File}}}", "values": {"rfEvents": 5}}]}""",
            w => [$$$"""{"items": [{"path": "{{{w.File}}}", "values": {"rfEvents": "many"}}]}""", $$$"""{"items": [{"path": "{{{w.Area}}}/none.root", "values": {"rfEvents": 5}}]}""",
                  $$$"""{"items": [{"path": "{{{w.Dir}}}", "values": {"rfCampaign": "B"}}]}""", $$$"""{"items": [{"path": "{{{w.File}}}", "values": {"rfCampaign": "A"}}]}""",
                  $$$"""{"items": [{"path": "{{{w.File}}}", "values": 5}]}"""]),
        new("POST", "/api/v1/namespace/chmod",
            w => $$$"""{"path": "{{{w.Dir}}}", "mode": "750", "recursive": true}""",
            w => [$$$"""{"path": "{{{w.Area}}}/none", "mode": "750"}""", $$$"""{"path": "{{{w.Dir}}}", "mode": "999"}""", $$$"""{"path": "{{{w.Dir}}}", "mode": 70000}""",
                  $$$"""{"path": "{{{w.Dir}}}"}"""]),
        new("POST", "/api/v1/namespace/chown",
            w => $$$"""{"path": "{{{w.Dir}}}", "owner": "bob", "recursive": true}""",
            w => [$$$"""{"path": "{{{w.Area}}}/none", "owner": "bob"}""", $$$"""{"path": "{{{w.Dir}}}", "owner": "b o b"}""", $$$"""{"path": "{{{w.Dir}}}", "owner": 7}"""]),
        new("POST", "/api/v1/namespace/move",
            w => $$$"""{"from": "{{{w.File}}}", "to": "{{{w.Dir}}}/h.root"}""",
            w => [$$$"""{"from": "{{{w.Area}}}/none.root", "to": "{{{w.Dir}}}/h.root"}""", $$$"""{"from": "{{{w.File}}}", "to": "{{{w.Area}}}/none/h.root"}""",
                  $$$"""{"from": "{{{w.Dir}}}", "to": "{{{w.Dir}}}/inside"}""", $$$"""{"from": "{{{w.File}}}", "to": "{{{w.Dir}}}/"}"""]),
        new("POST", "/api/v1/namespace/remove",
            w => $$$"""{"paths": ["{{{w.File}}}"]}""",
            w => [$$$"""{"paths": ["{{{w.Dir}}}"]}""", $$$"""{"paths": ["{{{w.Held}}}"], "recursive": true}""", $$$"""{"paths": ["{{{w.Area}}}/none"]}""",
                  $$$"""{"paths": "{{{w.File}}}"}"""]),
        new("POST", "/api/v1/replicas",
            w => $$$"""{"replicas": [{"lfn": "{{{w.File}}}", "se": "{{{w.Se2}}}"}]}""",
            w => [$$$"""{"replicas": [{"lfn": "{{{w.File}}}", "se": "NO-SUCH-SE"}]}""", $$$"""{"replicas": [{"lfn": "{{{w.Area}}}/none.root", "se": "{{{w.Se2}}}"}]}""",
                  $$$"""{"replicas": [{"lfn": "{{{w.File}}}", "se": "{{{w.Se2}}}", "state": "bogus"}]}""", $$$"""{"replicas": [{"lfn": "{{{w.File}}}"}]}"""]),
        new("POST", "/api/v1/replicas/remove",
            w => $$$"""{"replicas": [{"lfn": "{{{w.File}}}", "se": "{{{w.Se}}}"}]}""",
            w => [$$$"""{"replicas": [{"lfn": "{{{w.File}}}", "se": "NO-SUCH-SE"}]}""", $$$"""{"replicas": [{"lfn": "{{{w.Area}}}/none.root", "se": "{{{w.Se}}}"}]}""",
                  $$$"""{"replicas": [{"lfn": "{{{w.File}}}", "se": "{{{w.Se2}}}"}]}"""]),
        new("POST", "/api/v1/replicas/state",
            w => $$$"""{"replicas": [{"lfn": "{{{w.File}}}", "se": "{{{w.Se}}}", "state": "unavailable"}]}""",
            w => [$$$"""{"replicas": [{"lfn": "{{{w.File}}}", "se": "{{{w.Se}}}", "state": "bogus"}]}""", $$$"""{"replicas": [{"lfn": "{{{w.File}}}", "se": "{{{w.Se}}}"}]}""",
                  $$$"""{"replicas": [{"lfn": "{{{w.File}}}", "se": "{{{w.Se2}}}", "state": "unavailable"}]}"""]),
        new("DELETE", "/api/v1/schema",
            w => "", w => [], Target: w => $"/api/v1/schema?path={Uri.EscapeDataString(w.Area)}&name=rfEvents"),
        new("DELETE", "/api/v1/schema?path={area}&name=absent", w => "", w => [""], Target: w => $"/api/v1/schema?path={Uri.EscapeDataString(w.Area)}&name=absent"),
        new("DELETE", "/api/v1/schema?path={dir}&name=rfEvents", w => "", w => [""], Target: w => $"/api/v1/schema?path={Uri.EscapeDataString(w.Dir)}&name=rfEvents"),
        new("POST", "/api/v1/schema",
            w => $$$"""{"path": "{{{w.Area}}}", "name": "rfNew", "type": "integer", "target": "files"}""",
            w => [$$$"""{"path": "{{{w.Area}}}", "name": "bad name", "type": "integer", "target": "files"}""", $$$"""{"path": "{{{w.Area}}}", "name": "rfNew", "type": "bogus"}""",
                  $$$"""{"path": "{{{w.Area}}}", "name": "rfEvents", "type": "string", "target": "files"}""", $$$"""{"path": "{{{w.Area}}}/none", "name": "rfNew", "type": "integer"}""",
                  $$$"""{"path": "{{{w.Area}}}", "name": "rfNew", "type": "string", "pattern": "("}"""]),
        new("POST", "/api/v1/schema/allowed",
            w => $$$"""{"path": "{{{w.Area}}}", "name": "rfCampaign", "allowed": ["C"]}""",
            w => [$$$"""{"path": "{{{w.Area}}}", "name": "absent", "allowed": ["C"]}""", $$$"""{"path": "{{{w.Area}}}", "name": "rfCampaign", "allowed": [1]}""",
                  $$$"""{"path": "{{{w.Area}}}", "name": "rfEvents", "allowed": [1]}"""]),
        new("PUT", "/api/v1/schema/policy",
            w => $$$"""{"path": "{{{w.Area}}}", "permissive": false}""",
            w => [$$$"""{"path": "{{{w.Area}}}/none", "permissive": false}""", $$$"""{"path": "{{{w.Area}}}", "permissive": "no"}"""]),
        new("DELETE", "/api/v1/storage-elements/{name}", w => "", w => [], Target: w => $"/api/v1/storage-elements/{w.Spare}"),
        new("DELETE", "/api/v1/storage-elements/{in-use}", w => "", w => [""], Target: w => $"/api/v1/storage-elements/{w.Se}"),
        new("DELETE", "/api/v1/storage-elements/{absent}", w => "", w => [""], Target: _ => "/api/v1/storage-elements/NO-SUCH-SE"),
        new("PUT", "/api/v1/storage-elements/{name}",
            w => """{"site": "TEST", "protocol": "root", "baseUrl": "root://new.test:1094//data"}""",
            w => ["""{"site": "", "protocol": "root", "baseUrl": "root://new.test:1094//data"}""", """{"site": "TEST", "protocol": "root", "baseUrl": "not a url"}""",
                  """{"site": "TEST", "protocol": "root", "baseUrl": "root://new.test:1094//data", "attributes": {"tier": {"nested": 1}}}""",
                  """{"site": "TEST", "protocol": "root", "baseUrl": "root://new.test:1094//data", "readEnabled": "yes"}"""],
            Target: w => $"/api/v1/storage-elements/{w.Spare}-NEW"),
        new("POST", "/api/v1/storage-elements/{name}/rename",
            w => $$$"""{"to": "{{{w.Spare}}}-R"}""",
            w => [$$$"""{"to": "{{{w.Se}}}"}""", """{"to": "bad name!"}""", "{}"], Target: w => $"/api/v1/storage-elements/{w.Spare}/rename"),
        new("POST", "/api/v1/tokens",
            w => """{"subject": "refused-writes", "roles": ["reader"], "scopes": ["storage.read:/belle"]}""",
            w => ["""{"subject": "refused-writes", "roles": ["emperor"], "scopes": ["storage.read:/belle"]}""",
                  """{"subject": "refused-writes", "roles": ["reader"], "scopes": ["bogus"]}""",
                  """{"subject": "refused-writes", "roles": ["reader"], "scopes": ["storage.read:/belle"], "lifetimeSeconds": -1}""",
                  """{"subject": "", "roles": ["reader"], "scopes": ["storage.read:/belle"]}"""]),
        new("DELETE", "/api/v1/tokens/{id}", w => "", w => [], Target: w => $"/api/v1/tokens/{w.Token}"),
        new("DELETE", "/api/v1/tokens/{absent}", w => "", w => [""], Target: _ => $"/api/v1/tokens/{Guid.NewGuid()}"),
        new("DELETE", "/api/v1/tokens/{not-an-id}", w => "", w => [""], Target: _ => "/api/v1/tokens/not-an-id"),
    ];

    [Fact]
    public void Every_write_endpoint_of_the_OpenAPI_document_has_a_case()
    {
        var document = JsonNode.Parse(System.IO.File.ReadAllText(Path.Combine(CatalogFixture.RepoRoot, "docs", "api", "openapi.v1.json")))!;
        var writes = document["paths"]!.AsObject()
            .SelectMany(p => p.Value!.AsObject().Select(m => $"{m.Key.ToUpperInvariant()} {p.Key}"))
            .Where(op => !op.StartsWith("GET ", StringComparison.Ordinal) && !op.StartsWith("HEAD ", StringComparison.Ordinal) && !Reads.Contains(op))
            .Order(StringComparer.Ordinal).ToList();
        var covered = Cases.Select(c => $"{c.Method} {c.Route}").ToHashSet();
        Assert.Empty(writes.Where(w => !covered.Contains(w)));
    }

    private static readonly World Sample = new("/belle/t/x", "SE", "SE2", "SPARE", Guid.Empty);

    /// <summary>Cases with only refusals (another path of an endpoint whose valid request is another case).</summary>
    private static bool RefusalsOnly(Case c) => c.Valid(Sample) == "" && c.Refused(Sample).Length > 0;

    public static TheoryData<string> CaseNames() => [.. Cases.Select(c => $"{c.Method} {c.Route}")];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task A_refused_request_changes_no_row_and_the_valid_one_does(string name)
    {
        var c = Cases.Single(x => $"{x.Method} {x.Route}" == name);
        var w = await WorldAsync();
        var target = c.Target?.Invoke(w) ?? c.Route;
        var anonymous = fx.Factory.CreateClient();
        var reader = fx.Factory.CreateClient();
        reader.DefaultRequestHeaders.Authorization = new("Bearer", await fx.IssueTokenAsync("refused-reader", ["reader"], ["storage.read:/belle"]));

        var valid = c.Valid(w);
        if (!RefusalsOnly(c))
        {
            await NothingChangesAsync(anonymous, c.Method, target, valid, "without a token", HttpStatusCode.Unauthorized);
            await NothingChangesAsync(reader, c.Method, target, valid, "with a reader's token");
        }
        foreach (var body in c.Refused(w))
            await NothingChangesAsync(fx.Http, c.Method, target, body, "as admin");

        if (!RefusalsOnly(c))
        {
            // The same endpoint's valid request changes rows: the check above would have seen it.
            var mark = await MarkAsync();
            var before = await RowsAsync(mark);
            using var answer = await SendAsync(fx.Http, c.Method, target, valid);
            var text = await answer.Content.ReadAsStringAsync();
            Assert.True(answer.IsSuccessStatusCode, $"{name}: the valid request got {(int)answer.StatusCode}: {text}");
            var after = await RowsAsync(mark);
            Assert.True(before != after, $"{name}: the valid request changed no row: {text}");
        }
    }

    /// <summary>The GraphQL door: per mutation, a valid document and refused ones (GraphQL validation refuses wrong kinds before anything runs).</summary>
    private sealed record GraphQLCase(string Mutation, Func<World, string> Valid, Func<World, string[]> Refused);

    private const string Item = "error { code }";

    private static readonly GraphQLCase[] Mutations =
    [
        new("registerFiles",
            w => $$$"""registerFiles(files: [{lfn: "{{{w.Dir}}}/g.root", size: 1, adler32: "0000000a", replicas: [{se: "{{{w.Se}}}"}]}]) { results { {{{Item}}} } }""",
            w => [$$$"""registerFiles(files: [{lfn: "{{{w.Area}}}/new/g.root", size: 1, adler32: "0000000a", replicas: [{se: "NO-SUCH-SE"}]}]) { results { {{{Item}}} } }""",
                  $$$"""registerFiles(files: [{lfn: "g.root", size: 1, adler32: "0000000a", dataset: "{{{w.Closed}}}"}]) { results { {{{Item}}} } }""",
                  $$$"""registerFiles(files: [{lfn: "{{{w.Closed}}}/sub00/g.root", size: 1, adler32: "0000000a"}]) { results { {{{Item}}} } }""",
                  $$$"""registerFiles(files: [{lfn: "{{{w.Area}}}/new/g.root", size: 1, adler32: "0000000a", metadata: "{\"rfEvents\": \"many\"}"}]) { results { {{{Item}}} } }"""]),
        new("makeDirectory",
            w => $$$"""makeDirectory(path: "{{{w.Area}}}/a/b", parents: true) { path }""",
            w => [$$$"""makeDirectory(path: "{{{w.Area}}}/a/b") { path }""", $$$"""makeDirectory(path: "{{{w.File}}}/x", parents: true) { path }"""]),
        new("changeMode",
            w => $$$"""changeMode(path: "{{{w.Dir}}}", mode: 488) { path }""",
            w => [$$$"""changeMode(path: "{{{w.Area}}}/none", mode: 488) { path }""", $$$"""changeMode(path: "{{{w.Dir}}}", mode: 70000) { path }"""]),
        new("changeOwner",
            w => $$$"""changeOwner(path: "{{{w.Dir}}}", owner: "bob") { path }""",
            w => [$$$"""changeOwner(path: "{{{w.Area}}}/none", owner: "bob") { path }""", $$$"""changeOwner(path: "{{{w.Dir}}}", owner: "b o b") { path }"""]),
        new("move",
            w => $$$"""move(from: "{{{w.File}}}", to: "{{{w.Dir}}}/h.root") { path }""",
            w => [$$$"""move(from: "{{{w.Area}}}/none.root", to: "{{{w.Dir}}}/h.root") { path }""", $$$"""move(from: "{{{w.Dir}}}", to: "{{{w.Dir}}}/inside") { path }"""]),
        new("remove",
            w => $$$"""remove(paths: ["{{{w.File}}}"]) { status {{{Item}}} }""",
            w => [$$$"""remove(paths: ["{{{w.Dir}}}"]) { status {{{Item}}} }""", $$$"""remove(paths: ["{{{w.Held}}}"], recursive: true) { status {{{Item}}} }"""]),
        new("addReplicas",
            w => $$$"""addReplicas(replicas: [{lfn: "{{{w.File}}}", se: "{{{w.Se2}}}"}]) { outcome {{{Item}}} }""",
            w => [$$$"""addReplicas(replicas: [{lfn: "{{{w.File}}}", se: "NO-SUCH-SE"}]) { outcome {{{Item}}} }""",
                  $$$"""addReplicas(replicas: [{lfn: "{{{w.Area}}}/none.root", se: "{{{w.Se2}}}"}]) { outcome {{{Item}}} }"""]),
        new("removeReplicas",
            w => $$$"""removeReplicas(replicas: [{lfn: "{{{w.File}}}", se: "{{{w.Se}}}"}]) { outcome {{{Item}}} }""",
            w => [$$$"""removeReplicas(replicas: [{lfn: "{{{w.File}}}", se: "NO-SUCH-SE"}]) { outcome {{{Item}}} }"""]),
        new("setReplicaState",
            w => $$$"""setReplicaState(replicas: [{lfn: "{{{w.File}}}", se: "{{{w.Se}}}", state: UNAVAILABLE}]) { outcome {{{Item}}} }""",
            w => [$$$"""setReplicaState(replicas: [{lfn: "{{{w.File}}}", se: "{{{w.Se}}}"}]) { outcome {{{Item}}} }""",
                  $$$"""setReplicaState(replicas: [{lfn: "{{{w.File}}}", se: "{{{w.Se2}}}", state: UNAVAILABLE}]) { outcome {{{Item}}} }"""]),
        new("putStorageElement",
            w => $$$"""putStorageElement(name: "{{{w.Spare}}}-NEW", input: {site: "TEST", protocol: "root", baseUrl: "root://new.test:1094//data"}) { name }""",
            w => [$$$"""putStorageElement(name: "{{{w.Spare}}}-NEW", input: {site: "", protocol: "root", baseUrl: "root://new.test:1094//data"}) { name }""",
                  $$$"""putStorageElement(name: "{{{w.Spare}}}-NEW", input: {site: "TEST", protocol: "root", baseUrl: "not a url"}) { name }"""]),
        new("correctFiles",
            w => $$$"""correctFiles(items: [{lfn: "{{{w.File}}}", reason: "wrong size", size: 2}]) { ok {{{Item}}} }""",
            w => [$$$"""correctFiles(items: [{lfn: "{{{w.Area}}}/none.root", reason: "r", size: 2}]) { ok {{{Item}}} }""",
                  $$$"""correctFiles(items: [{lfn: "{{{w.File}}}", reason: "r", size: -2}]) { ok {{{Item}}} }"""]),
        new("renameStorageElement",
            w => $$$"""renameStorageElement(name: "{{{w.Spare}}}", to: "{{{w.Spare}}}-R") { name }""",
            w => [$$$"""renameStorageElement(name: "{{{w.Spare}}}", to: "{{{w.Se}}}") { name }""", $$$"""renameStorageElement(name: "{{{w.Spare}}}", to: "bad name!") { name }"""]),
        new("deleteStorageElement",
            w => $$$"""deleteStorageElement(name: "{{{w.Spare}}}")""",
            w => [$$$"""deleteStorageElement(name: "{{{w.Se}}}")""", """deleteStorageElement(name: "NO-SUCH-SE")"""]),
        new("createDataset",
            w => $$$"""createDataset(path: "{{{w.Area}}}/new/ds") { path }""",
            w => [$$$"""createDataset(path: "{{{w.Area}}}/new/ds", metadata: "{\"rfCampaign\": \"B\"}") { path }""",
                  $$$"""createDataset(path: "{{{w.Open}}}", metadata: "{\"rfCampaign\": \"A\"}") { path }""",
                  $$$"""createDataset(path: "{{{w.Area}}}/new/ds", maxFilesPerBlock: 0) { path }"""]),
        new("closeDataset",
            w => $$$"""closeDataset(path: "{{{w.Open}}}") { path }""",
            w => [$$$"""closeDataset(path: "{{{w.Area}}}/none") { path }""", $$$"""closeDataset(path: "{{{w.Dir}}}") { path }"""]),
        new("reopenDataset",
            w => $$$"""reopenDataset(path: "{{{w.Closed}}}") { path }""",
            w => [$$$"""reopenDataset(path: "{{{w.Area}}}/none") { path }"""]),
        new("setDatasetLifetime",
            w => $$$"""setDatasetLifetime(path: "{{{w.Open}}}", expires: "2031-01-01T00:00:00Z") { path }""",
            w => [$$$"""setDatasetLifetime(path: "{{{w.Area}}}/none", expires: "2031-01-01T00:00:00Z") { path }"""]),
        new("createCollection",
            w => $$$"""createCollection(path: "{{{w.Area}}}/coll", members: ["{{{w.Closed}}}"]) { path }""",
            w => [$$$"""createCollection(path: "{{{w.Area}}}/coll", members: ["{{{w.Open}}}"]) { path }""",
                  $$$"""createCollection(path: "{{{w.Area}}}/coll", members: ["{{{w.Area}}}/none"]) { path }"""]),
        new("declareAttribute",
            w => $$$"""declareAttribute(attribute: {path: "{{{w.Area}}}", name: "rfNew", type: INTEGER, target: FILES}) { path }""",
            w => [$$$"""declareAttribute(attribute: {path: "{{{w.Area}}}", name: "bad name", type: INTEGER, target: FILES}) { path }""",
                  $$$"""declareAttribute(attribute: {path: "{{{w.Area}}}", name: "rfEvents", type: STRING, target: FILES}) { path }"""]),
        new("extendAllowedValues",
            w => $$$"""extendAllowedValues(path: "{{{w.Area}}}", name: "rfCampaign", allowed: "[\"C\"]") { path }""",
            w => [$$$"""extendAllowedValues(path: "{{{w.Area}}}", name: "absent", allowed: "[\"C\"]") { path }""",
                  $$$"""extendAllowedValues(path: "{{{w.Area}}}", name: "rfCampaign", allowed: "[1]") { path }"""]),
        new("removeAttribute",
            w => $$$"""removeAttribute(path: "{{{w.Area}}}", name: "rfEvents") { path }""",
            w => [$$$"""removeAttribute(path: "{{{w.Area}}}", name: "absent") { path }"""]),
        new("setMetadataPolicy",
            w => $$$"""setMetadataPolicy(path: "{{{w.Area}}}", permissive: false) { path }""",
            w => [$$$"""setMetadataPolicy(path: "{{{w.Area}}}/none", permissive: false) { path }"""]),
        new("writeMetadata",
            w => $$$"""writeMetadata(items: [{path: "{{{w.File}}}", values: "{\"rfEvents\": 5}"}]) { ok {{{Item}}} }""",
            w => [$$$"""writeMetadata(items: [{path: "{{{w.File}}}", values: "{\"rfEvents\": \"many\"}"}]) { ok {{{Item}}} }""",
                  $$$"""writeMetadata(items: [{path: "{{{w.Area}}}/none.root", values: "{\"rfEvents\": 5}"}]) { ok {{{Item}}} }""",
                  $$$"""writeMetadata(items: [{path: "{{{w.File}}}", values: "not json"}]) { ok {{{Item}}} }"""]),
    ];

    [Fact]
    public void Every_GraphQL_mutation_has_a_case()
    {
        var schema = System.IO.File.ReadAllText(Path.Combine(CatalogFixture.RepoRoot, "docs", "api", "schema.graphql"));
        var block = schema[schema.IndexOf("type Mutation {", StringComparison.Ordinal)..];
        block = block[..block.IndexOf('}')];
        var mutations = System.Text.RegularExpressions.Regex.Matches(block, @"(?m)^\s+(\w+)\(").Select(m => m.Groups[1].Value).ToList();
        Assert.True(mutations.Count >= 20, string.Join(", ", mutations));
        Assert.Empty(mutations.Except(Mutations.Select(m => m.Mutation)));
    }

    public static TheoryData<string> MutationNames() => [.. Mutations.Select(m => m.Mutation)];

    [Theory]
    [MemberData(nameof(MutationNames))]
    public async Task A_refused_GraphQL_mutation_changes_no_row_and_the_valid_one_does(string name)
    {
        var c = Mutations.Single(m => m.Mutation == name);
        var w = await WorldAsync();
        var anonymous = fx.Factory.CreateClient();
        var reader = fx.Factory.CreateClient();
        reader.DefaultRequestHeaders.Authorization = new("Bearer", await fx.IssueTokenAsync("refused-reader", ["reader"], ["storage.read:/belle"]));
        foreach (var (client, body, how) in new[] { (anonymous, c.Valid(w), "without a token"), (reader, c.Valid(w), "with a reader's token") }
                     .Concat(c.Refused(w).Select(b => (fx.Http, b, "as admin"))))
        {
            var mark = await MarkAsync();
            var before = await RowsAsync(mark);
            var (status, text) = await MutateAsync(client, body);
            var what = $"mutation {{ {body} }} {how} -> {status} {text}";
            Assert.True(status is >= 200 and < 500, what);
            var json = JsonNode.Parse(text)!;
            var refused = status >= 400 || json["errors"] is JsonArray { Count: > 0 }
                || json["data"]?[name] switch
                {
                    JsonArray items => items.Count > 0 && items.All(i => i?["error"] is not null || i?["status"]?.GetValue<string>() == "ABSENT"),
                    JsonObject o when o["results"] is JsonArray results => results.Count > 0 && results.All(i => i?["error"] is not null),
                    _ => false,
                };
            Assert.True(refused, what);
            var after = await RowsAsync(mark);
            Assert.True(before == after, $"{what}\nchanged rows: {before} -> {after}");
        }

        var validMark = await MarkAsync();
        var validBefore = await RowsAsync(validMark);
        var (validStatus, validText) = await MutateAsync(fx.Http, c.Valid(w));
        Assert.True(validStatus == 200 && JsonNode.Parse(validText)!["errors"] is null, $"{name}: the valid mutation got {validStatus}: {validText}");
        Assert.True(validBefore != await RowsAsync(validMark), $"{name}: the valid mutation changed no row: {validText}");
    }

    private static async Task<(int Status, string Text)> MutateAsync(HttpClient client, string body)
    {
        using var answer = await client.PostAsync("graphql", new StringContent(
            System.Text.Json.JsonSerializer.Serialize(new { query = $"mutation {{ {body} }}" }), Encoding.UTF8, "application/json"));
        return ((int)answer.StatusCode, await answer.Content.ReadAsStringAsync());
    }

    private async Task NothingChangesAsync(HttpClient client, string method, string target, string body, string how, HttpStatusCode? expected = null)
    {
        var mark = await MarkAsync();
        var before = await RowsAsync(mark);
        using var answer = await SendAsync(client, method, target, body);
        var text = await answer.Content.ReadAsStringAsync();
        var what = $"{method} {target} {how} with {(body == "" ? "no body" : body)} -> {(int)answer.StatusCode} {text}";
        if (expected is { } status) Assert.True(answer.StatusCode == status, what);
        Assert.True((int)answer.StatusCode is >= 200 and < 500, what);
        // A 2xx is a per-item answer whose items say why they failed, or that what they remove is
        // absent (removal is idempotent); never a silent success.
        if (answer.IsSuccessStatusCode)
            Assert.True(JsonNode.Parse(text)?["results"]?.AsArray() is { Count: > 0 } items && items.All(i => i?["error"] is not null
                || (i?["status"] ?? i?["outcome"])?.GetValue<string>() == "absent"), what);
        var after = await RowsAsync(mark);
        Assert.True(before == after, $"{what}\nchanged rows: {before} -> {after}");
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient client, string method, string target, string body)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), target.TrimStart('/'));
        if (body != "") request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        return client.SendAsync(request);
    }

    /// <summary>A transaction id: every row written after it has an xmin at least this (a fresh test cluster is far from wraparound).</summary>
    private async Task<long> MarkAsync()
    {
        await using var conn = new NpgsqlConnection(fx.PostgresConnectionString);
        return await conn.ExecuteScalarAsync<long>("select pg_current_xact_id()::text::bigint % 4294967296");
    }

    /// <summary>Per table, its row count and how many rows were written since <paramref name="mark"/>.</summary>
    private async Task<string> RowsAsync(long mark)
    {
        await using var conn = new NpgsqlConnection(fx.PostgresConnectionString);
        var sql = string.Join(" union all ", Tables.Select(t =>
            $"select '{t}' as t, count(*) as n, count(*) filter (where xmin::text::bigint >= @mark) as w from {t}"));
        var rows = await conn.QueryAsync<(string T, long N, long W)>(sql, new { mark });
        return string.Join(", ", rows.OrderBy(r => r.T, StringComparer.Ordinal).Select(r => $"{r.T} {r.N}/{r.W}")); // union all keeps no order (a parallel plan mixes it)
    }

    /// <summary>
    /// An area of its own: a directory with a file (one replica), an open dataset, a closed one, a
    /// closed one held by a collection, two attributes, an SE with no replicas and an unused one.
    /// </summary>
    private async Task<World> WorldAsync()
    {
        var area = TestData.Dir("refused");
        var (se, se2, spare) = (await fx.NewStorageElementAsync(), await fx.NewStorageElementAsync(), await fx.NewStorageElementAsync("SPARE"));
        var token = await fx.Client.IssueTokenAsync(new TokenRequest("refused-revocable", ["reader"], ["storage.read:/belle"]));
        var w = new World(area, se, se2, spare, token.Id);
        await fx.Client.MakeDirectoryAsync(w.Dir, parents: true);
        await fx.Client.DeclareAttributeAsync(new AttributeSpec(area, "rfCampaign", AttributeType.String, AttributeTarget.Directories, [JsonValue.Create("A")]));
        await fx.Client.DeclareAttributeAsync(new AttributeSpec(area, "rfEvents", AttributeType.Integer, AttributeTarget.Files));
        await fx.Client.RegisterAsync([TestData.File(w.File, se)]);
        foreach (var ds in new[] { w.Open, w.Closed, w.Held })
        {
            await fx.Client.CreateDatasetAsync(new DatasetRequest(ds));
            await fx.Client.RegisterAsync([new NewFile("a.root", 1, "0000000a", Replicas: [new NewReplica(se)], Dataset: ds)]);
        }
        await fx.Client.CloseDatasetAsync(w.Closed);
        await fx.Client.CloseDatasetAsync(w.Held);
        await fx.Client.CreateCollectionAsync(new CollectionRequest($"{area}/coll0", [w.Held]));
        return w;
    }
}
