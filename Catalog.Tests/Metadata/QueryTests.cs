using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Catalog.Api.Metadata.Query;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Metadata;

[Collection(CatalogCollection.Name)]
public class QueryTests(CatalogFixture fx) : MetadataTestBase(fx)
{
    /// <summary>Two datasets with different dataset-level values, files with their own.</summary>
    private async Task<(string Area, string Se)> CatalogAsync()
    {
        var area = await DeclareDomainSchemaAsync(Area("q"));
        var se = await Fx.NewStorageElementAsync();
        var sets = new (string Name, string EventType, int Experiment, string Release)[]
        {
            ("mixed-e8", "mixed", 8, "release-08-01-00"),
            ("charged-e12", "charged", 12, "release-08-01-00"),
            ("uubar-e9", "uubar", 9, "release-07-00-00"),
        };
        foreach (var s in sets)
        {
            await Fx.Client.CreateDatasetAsync(new DatasetRequest($"{area}/{s.Name}", new JsonObject
            {
                ["dataType"] = "mc", ["mcEventType"] = s.EventType, ["experiment"] = s.Experiment, ["release"] = s.Release, ["dataLevel"] = "mdst",
            }, MaxFilesPerBlock: 2));
            await Fx.Client.RegisterAsync(Enumerable.Range(0, 5).Select(i => File($"f{i}.root", se,
                i == 4 ? new JsonObject { ["site"] = "DESY" } : new JsonObject { ["nEvents"] = 1000 * (i + 1), ["site"] = "KEK" },
                dataset: $"{area}/{s.Name}")).ToList());
        }
        return (area, se);
    }

    private async Task<List<string>> Paths(string query, string area, QueryTarget target = QueryTarget.Files) =>
        (await Fx.Client.QueryAsync(new QueryRequest(query, area, target))).Rows.Select(r => r.Path[(area.Length + 1)..]).Order().ToList();

    [Fact]
    public async Task The_example_query_and_every_operator()
    {
        var (area, se) = await CatalogAsync();
        var example = await Paths("experiment between 7 and 10 and mcEventType in ('mixed','charged') and release = 'release-08-01-00'", area);
        Assert.Equal(5, example.Count);
        Assert.All(example, p => Assert.StartsWith("mixed-e8/", p));

        Assert.Equal(5, (await Paths("experiment > 10", area)).Count);
        Assert.Equal(10, (await Paths("experiment >= 9", area)).Count);
        Assert.Equal(3, (await Paths("nEvents <= 1000", area)).Count);
        Assert.Equal(9, (await Paths("nEvents between 2000 and 4000", area)).Count);
        Assert.Equal(3, (await Paths("site = 'DESY'", area)).Count);
        // != never matches files without the attribute; missing/exists say so explicitly.
        Assert.Equal(9, (await Paths("nEvents != 1000", area)).Count);
        Assert.Equal(3, (await Paths("nEvents missing", area)).Count);
        Assert.Equal(12, (await Paths("nEvents exists", area)).Count);
        Assert.Equal(3, (await Paths("not (nEvents exists)", area)).Count);
        Assert.Equal(10, (await Paths("mcEventType not in ('uubar')", area)).Count);
        Assert.Equal(5, (await Paths("lfn like '*charged*/sub0?/*'", area)).Count);
        Assert.Equal(3, (await Paths("name like 'f4*'", area)).Count);
        Assert.Equal(6, (await Paths("(mcEventType = 'uubar' or experiment = 12) and nEvents > 1000", area)).Count - 0);
        Assert.Equal(15, (await Paths($"se = '{se}' and size = 1000", area)).Count);
        Assert.Empty(await Paths("se = 'NO-SUCH-SE'", area));
        Assert.Equal(15, (await Paths("created > '2020-01-01T00:00:00Z'", area)).Count);
        Assert.Equal(["charged-e12", "mixed-e8"], await Paths("release = 'release-08-01-00'", area, QueryTarget.Datasets));
    }

    [Fact]
    public async Task Pages_follow_a_cursor_streams_return_everything_and_attributes_are_chosen()
    {
        var (area, _) = await CatalogAsync();
        var seen = new List<string>();
        string? after = null;
        do
        {
            var page = await Fx.Client.QueryAsync(new QueryRequest("dataType = 'mc'", area, Attributes: ["nEvents", "release", "size"], After: after, Limit: 4));
            Assert.True(page.Rows.Count <= 4);
            seen.AddRange(page.Rows.Select(r => r.Path));
            Assert.All(page.Rows, r => Assert.Equal(1000, (long)r.Attributes!["size"]!));
            Assert.All(page.Rows, r => Assert.NotNull(r.Attributes!["release"]));
            after = page.Next;
        } while (after is not null);
        Assert.Equal(15, seen.Distinct().Count());

        var streamed = await Fx.Client.QueryAllAsync(new QueryRequest("dataType = 'mc'", area)).ToListAsync();
        Assert.Equal(seen.Order(), streamed.Select(r => r.Path).Order());
    }

    [Fact]
    public async Task Checksums_and_replicas_with_their_states_come_back_as_attributes()
    {
        // What a replication service reads for a whole dataset in one stream: size, checksum, and
        // every replica with its state (a bad or being-copied replica must not pass for a copy).
        var area = await DeclareDomainSchemaAsync(Area("rep"));
        var (good, other) = (await Fx.NewStorageElementAsync(), await Fx.NewStorageElementAsync());
        await Fx.Client.RegisterAsync([
            new NewFile($"{area}/a.root", 10, "0000000a", Replicas: [new NewReplica(good), new NewReplica(other, State: ReplicaState.Bad)]),
            new NewFile($"{area}/b.root", 20, "0000000b", Replicas: [new NewReplica(other, State: ReplicaState.BeingCopied)]),
            new NewFile($"{area}/c.root", 30, "0000000c"),
        ]);
        var rows = (await Fx.Client.QueryAllAsync(new QueryRequest("size >= 0", area, Attributes: ["size", "adler32", "replicas"])).ToListAsync())
            .ToDictionary(r => r.Path[(area.Length + 1)..], r => r.Attributes!);
        Assert.Equal(["a.root", "b.root", "c.root"], rows.Keys.Order());
        Assert.Equal("0000000a", (string)rows["a.root"]["adler32"]!);
        Assert.Equal(20, (long)rows["b.root"]["size"]!);
        Assert.Equal("available", (string)rows["a.root"]["replicas"]![good]!);
        Assert.Equal("bad", (string)rows["a.root"]["replicas"]![other]!);
        Assert.Equal("being_copied", (string)rows["b.root"]["replicas"]![other]!);
        Assert.Null(rows["b.root"]["replicas"]![good]);
        Assert.Empty(rows["c.root"]["replicas"]!.AsObject()); // no replica: an empty object, not a missing one
        // The client reads the same stream typed, whatever attributes the request named.
        var typed = (await Fx.Client.QueryReplicasAsync(new QueryRequest("size >= 0", area, Attributes: ["name"])).ToListAsync())
            .ToDictionary(r => r.Path[(area.Length + 1)..], r => r.Attributes);
        Assert.Equal((10L, "0000000a"), (typed["a.root"].Size, typed["a.root"].Adler32));
        Assert.Equal(ReplicaState.Available, typed["a.root"].Replicas[good]);
        Assert.Equal(ReplicaState.Bad, typed["a.root"].Replicas[other]);
        Assert.Equal(ReplicaState.BeingCopied, typed["b.root"].Replicas[other]);
        Assert.Empty(typed["c.root"].Replicas);

        // The checksum is a built-in of conditions too; replicas is shown only (se compares).
        Assert.Equal(["b.root"], await Paths("adler32 = '0000000b'", area));
        Assert.Equal(["a.root", "c.root"], await Paths("adler32 in ('0000000A', '0000000c')", area));
        Assert.Equal(["a.root", "c.root"], await Paths("adler32 != '0000000b'", area));
        using var refused = await Fx.Http.PostAsJsonAsync("api/v1/query", new { query = "replicas = 'x'", under = area });
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("'replicas' can be returned (attributes), not compared", await refused.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Every_kind_of_attribute_is_written_alike_in_pages_and_streams_in_the_order_and_escaping_the_API_always_used()
    {
        // The database answers typed columns and JSON text, which the API writes itself (QueryMatch):
        // a page (through the framework's serializer) and the stream (written row by row) must
        // spell every row the same, with keys and replicas in jsonb's order and strings escaped
        // by the serializer, as when the API parsed jsonb objects and serialized them again.
        var area = await DeclareDomainSchemaAsync(Area("kinds"));
        var (b, a) = (await Fx.NewStorageElementAsync("B"), await Fx.NewStorageElementAsync("A"));
        await Fx.Client.CreateDatasetAsync(new DatasetRequest($"{area}/ds", new JsonObject
        {
            ["dataType"] = "mc", ["experiment"] = 12, ["luminosity"] = 1.5, ["description"] = "Mönch <&> \"quoted\" \\ end",
        }));
        var registered = await Fx.Client.RegisterAsync([
            new NewFile("a.root", 10, "ffffffff", Replicas: [new NewReplica(b), new NewReplica(a, State: ReplicaState.Bad)], Dataset: $"{area}/ds",
                Metadata: new JsonObject { ["site"] = "Hôpital <KEK>", ["nEvents"] = 12345678901, ["isMC"] = true, ["generated"] = "2026-01-02T03:04:05.678Z" }),
            new NewFile("b-é.root", 0, "0000000a", Dataset: $"{area}/ds"),
        ]);
        Assert.True(registered.Created == 2, string.Join("; ", registered.Results.Select(r => r.Error?.Message)));
        string[] attributes = ["replicas", "lfn", "name", "size", "created", "guid", "se", "adler32", "site", "nEvents", "generated", "isMC",
            "luminosity", "description", "experiment", "dataType", "runLow"];
        using var page = await Fx.Http.PostAsJsonAsync("api/v1/query", new { query = "size >= 0", under = area, attributes, limit = 10 });
        page.EnsureSuccessStatusCode();
        using var paged = JsonDocument.Parse(await page.Content.ReadAsStringAsync());
        using var stream = await Fx.Http.PostAsJsonAsync("api/v1/query/stream", new { query = "size >= 0", under = area, attributes });
        stream.EnsureSuccessStatusCode();
        using var streamed = JsonDocument.Parse(await stream.Content.ReadAsStringAsync());
        var pageRows = paged.RootElement.GetProperty("rows").EnumerateArray().Select(r => r.GetRawText()).ToList();
        Assert.Equal(2, pageRows.Count);
        Assert.Equal(pageRows, streamed.RootElement.EnumerateArray().Select(r => r.GetRawText()).ToList());

        var first = streamed.RootElement[0].GetProperty("attributes");
        var keys = first.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(attributes.OrderBy(k => k.Length).ThenBy(k => k, StringComparer.Ordinal), keys); // jsonb's key order
        Assert.Equal([a, b], first.GetProperty("replicas").EnumerateObject().Select(p => p.Name)); // by name, not by registration
        Assert.Equal("bad", first.GetProperty("replicas").GetProperty(a).GetString());
        Assert.Equal([a, b], first.GetProperty("se").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("ffffffff", first.GetProperty("adler32").GetString()); // stored as a negative 32-bit integer
        Assert.Equal("12345678901", first.GetProperty("nEvents").GetRawText());
        Assert.Equal("1.5", first.GetProperty("luminosity").GetRawText());
        Assert.Equal(JsonValueKind.Null, first.GetProperty("runLow").ValueKind); // declared, not set
        Assert.Equal(JsonValueKind.True, first.GetProperty("isMC").ValueKind);
        Assert.Equal("Mönch <&> \"quoted\" \\ end", first.GetProperty("description").GetString());
        Assert.Contains("\"site\":\"Hôpital <KEK>\"", pageRows[0]); // escaped as every answer is
        var second = streamed.RootElement[1].GetProperty("attributes");
        Assert.Equal("{}", second.GetProperty("replicas").GetRawText()); // no replica: an empty object
        Assert.Equal(JsonValueKind.Null, second.GetProperty("se").ValueKind);
        Assert.Equal("b-é.root", second.GetProperty("name").GetString());
        Assert.Equal(0, second.GetProperty("size").GetInt64());
    }

    [Fact]
    public async Task Facets_count_values_over_a_query()
    {
        var (area, _) = await CatalogAsync();
        var facets = await Fx.Client.FacetsAsync(new FacetRequest("dataLevel = 'mdst'", area, ["mcEventType", "release"]));
        Assert.Equal(15, facets.Total);
        var eventTypes = facets.Facets[0].Values.ToDictionary(v => (string)v.Value!, v => v.Count);
        Assert.Equal(new Dictionary<string, long> { ["mixed"] = 5, ["charged"] = 5, ["uubar"] = 5 }, eventTypes);
        Assert.Equal(10, facets.Facets[1].Values.Single(v => (string)v.Value! == "release-08-01-00").Count);

        var withFileCondition = await Fx.Client.FacetsAsync(new FacetRequest("nEvents >= 3000", area, ["mcEventType", "site"]));
        Assert.Equal(6, withFileCondition.Total);
        Assert.Equal(6, withFileCondition.Facets[1].Values.Single().Count);

        var datasets = await Fx.Client.FacetsAsync(new FacetRequest(null, area, ["release"], QueryTarget.Datasets));
        Assert.Equal(3, datasets.Total);
    }

    [Fact]
    public async Task REST_queries_take_the_same_typed_filters_as_GraphQL()
    {
        var (area, _) = await CatalogAsync();
        Filter[] filters =
        [
            new("experiment", FilterOp.Between, null, [new(null, 7, null), new(null, 10, null)]),
            new("mcEventType", FilterOp.In, null, [new("mixed", null, null), new("charged", null, null)]),
            new("release", FilterOp.Eq, new("release-08-01-00", null, null), null),
        ];
        var typed = await Fx.Client.QueryAsync(new QueryRequest(null, area, Attributes: ["nEvents"], Limit: 100, Filters: filters));
        var text = await Fx.Client.QueryAsync(new QueryRequest(
            "experiment between 7 and 10 and mcEventType in ('mixed', 'charged') and release = 'release-08-01-00'", area, Attributes: ["nEvents"], Limit: 100));
        Assert.Equal(5, typed.Rows.Count);
        Assert.Equal(text.Rows.Select(r => r.Path), typed.Rows.Select(r => r.Path));

        var both = await Fx.Client.QueryAsync(new QueryRequest("nEvents > 3000", area, Limit: 100,
            Filters: [new("mcEventType", FilterOp.Eq, new("uubar", null, null), null)]));
        Assert.Single(both.Rows);

        var wrong = await Assert.ThrowsAsync<CatalogValidationException>(() => Fx.Client.QueryAsync(new QueryRequest(null, area,
            Filters: [new("experiment", FilterOp.Eq, new("eight", null, null), null)])));
        Assert.Contains("'experiment' is integer", wrong.Message);
        var twoValues = await Assert.ThrowsAsync<CatalogValidationException>(() => Fx.Client.QueryAsync(new QueryRequest(null, area,
            Filters: [new("experiment", FilterOp.Eq, new("8", 8, null), null)])));
        Assert.Equal("filters[0].value", twoValues.Field);
    }

    [Fact]
    public async Task GraphQL_searches_with_typed_filters_the_same_way()
    {
        var (area, _) = await CatalogAsync();
        const string search = """
            query($under: String, $filters: [Filter!], $query: String) {
              search(under: $under, query: $query, filters: $filters, attributes: ["nEvents", "mcEventType"], first: 100) { rows { path attributes } next }
            }
            """;
        using var typed = await Fx.Client.GraphQLAsync(search, new
        {
            under = area,
            filters = new object[]
            {
                new { attribute = "experiment", op = "BETWEEN", values = new[] { new { number = 7 }, new { number = 10 } } },
                new { attribute = "mcEventType", op = "IN", values = new[] { new { @string = "mixed" }, new { @string = "charged" } } },
                new { attribute = "release", op = "EQ", value = new { @string = "release-08-01-00" } },
            },
        });
        var rows = typed.RootElement.GetProperty("data").GetProperty("search").GetProperty("rows");
        Assert.Equal(5, rows.GetArrayLength());
        Assert.Contains("\"mcEventType\":\"mixed\"", rows[0].GetProperty("attributes").GetString());

        using var both = await Fx.Client.GraphQLAsync(search, new { under = area, query = "nEvents > 3000",
            filters = new[] { new { attribute = "mcEventType", op = "EQ", value = new { @string = "uubar" } } } });
        Assert.Equal(1, both.RootElement.GetProperty("data").GetProperty("search").GetProperty("rows").GetArrayLength());

        using var wrong = await Fx.Client.GraphQLAsync(search, new { under = area,
            filters = new[] { new { attribute = "experiment", op = "EQ", value = new { @string = "eight" } } } });
        var error = wrong.RootElement.GetProperty("errors")[0];
        Assert.Equal("INVALID_ARGUMENT", error.GetProperty("extensions").GetProperty("code").GetString());
        Assert.Contains("'experiment' is integer", error.GetProperty("message").GetString());

        using var facets = await Fx.Client.GraphQLAsync("""
            query($under: String) { facets(under: $under, query: "dataType = 'mc'", attributes: ["mcEventType"]) { total facets { attribute values { value count } } } }
            """, new { under = area });
        Assert.Equal(15, facets.RootElement.GetProperty("data").GetProperty("facets").GetProperty("total").GetInt64());
    }

    [Fact]
    public async Task Explain_shows_the_plan_and_the_forced_sequential_scan_for_admins_only()
    {
        var (area, _) = await CatalogAsync();
        var request = new QueryRequest("mcEventType = 'mixed' and nEvents > 1000", area, Limit: 10);
        var plan = string.Join("\n", await Fx.Client.ExplainQueryAsync(request));
        var forced = string.Join("\n", await Fx.Client.ExplainQueryAsync(request, forceSequentialScan: true));
        Assert.Contains("Execution Time", plan);
        Assert.Contains("Seq Scan on file", forced);
        Assert.DoesNotContain("Index Scan", forced);
        Assert.Contains("Execution Time", string.Join("\n", await Fx.Client.ExplainFacetsAsync(new FacetRequest(null, area, ["release"]))));
        var reader = Fx.ClientWith(await Fx.IssueTokenAsync("reader-x", ["reader"], ["storage.read:/belle"]));
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => reader.ExplainQueryAsync(request));
    }

    public static TheoryData<string, string> BadQueries => new()
    {
        { "", "empty" },
        { "   ", "empty" },
        { "release = 'x'; drop table file", "unexpected character ';'" },
        { "release = 'x' -- comment", "position 14" },
        { "release = 'x' /* c */", "unexpected character '/'" },
        { "release = 'it''s", "unterminated string" },
        { "release = \"x\"", "unexpected character '\"'" },
        { "relеase = 'x'", "U+0435" },                   // Cyrillic e
        { "release ＝ 'x'", "U+FF1D" },                    // fullwidth equals
        { "nosuch = 1", "unknown attribute 'nosuch'" },
        { "experiment = 'eight'", "'experiment' is integer: expected a number" },
        { "release > 5", "expected a quoted string" },
        { "isMC < true", "use = or !=" },
        { "experiment between 1", "expected 'and'" },
        { "experiment in ()", "expected a value" },
        { "experiment in (1, 2", "expected ',' or ')'" },
        { "(experiment = 1", "expected ')'" },
        { "experiment = 1)", "unexpected ')'" },
        { "experiment like 'x'", "not a string attribute" },
        { "size exists", "built in" },
        { "and", "expected an attribute name" },
        { "experiment = 1 or", "expected an attribute name" },
        { "experiment 1", "expected an operator" },
        { "experiment ~ 1", "unexpected character '~'" },
        { "guid = 'not-a-guid'", "expected a quoted GUID" },
        { "created > 'yesterday'", "ISO-8601" },
        { "adler32 = 'xyz'", "expected a quoted Adler-32 of 8 hex digits" },
        { "replicas = 'KEK-DISK'", "'replicas' can be returned (attributes), not compared" },
        { "experiment = 1e999999", "not a number" },
    };

    [Theory]
    [MemberData(nameof(BadQueries))]
    public async Task Bad_queries_are_400s_naming_position_and_reason(string query, string reason)
    {
        var area = await DeclareDomainSchemaAsync(Area("bad"));
        using var response = await Fx.Http.PostAsJsonAsync("api/v1/query", new { query, under = area });
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("query", problem.GetProperty("field").GetString());
        Assert.Matches(@"^query: position \d+: ", problem.GetProperty("detail").GetString());
        Assert.Contains(reason, problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Huge_in_lists_and_deep_nesting_are_refused_before_the_database()
    {
        var area = await DeclareDomainSchemaAsync(Area("huge"));
        var million = "experiment in (" + string.Join(",", Enumerable.Range(0, 1_000_000)) + ")";
        var deep = new string('(', 5_000) + "experiment = 1" + new string(')', 5_000);
        var deeper = new string('(', 10_000) + "experiment = 1" + new string(')', 10_000); // also longer than the limit
        var longNot = string.Concat(Enumerable.Repeat("not ", 3_000)) + "experiment = 1";
        foreach (var (query, reason) in new[] { (million, "longer than"), (deep, "nested deeper than 32"), (deeper, "longer than"), (longNot, "nested deeper than 32") })
        {
            var e = await Assert.ThrowsAsync<CatalogValidationException>(() => Fx.Client.QueryAsync(new QueryRequest(query, area)));
            Assert.Contains(reason, e.Message);
        }
        var manyValues = "experiment in (" + string.Join(",", Enumerable.Range(0, 1_001)) + ")";
        Assert.Contains("at most 1000 values", (await Assert.ThrowsAsync<CatalogValidationException>(() => Fx.Client.QueryAsync(new QueryRequest(manyValues, area)))).Message);
    }

    [Fact]
    public async Task Quotes_and_sql_in_values_are_only_ever_values()
    {
        var (area, _) = await CatalogAsync();
        foreach (var value in new[] { "x' or '1'='1", "'; drop table file; --", "release-08-01-00' --", "\\", "%", "_" })
            Assert.Empty(await Paths($"release = '{value.Replace("'", "''")}' or site like '{value.Replace("'", "''")}'", area));
        Assert.Equal(15, (await Paths("site like '*'", area)).Count);
    }

    /// <summary>
    /// Random and mutated input: the parser and compiler either accept it or refuse it with a
    /// position inside the text; nothing else ever escapes (no crash, no stack overflow).
    /// </summary>
    [Fact]
    public void Fuzzed_queries_parse_or_fail_with_a_position_and_nothing_else()
    {
        var random = new Random(20261125);
        var attributes = new Dictionary<string, AttributeDefinition>
        {
            ["experiment"] = new("experiment", AttributeType.Integer, AttributeTarget.Directories, "/belle", null, true),
            ["release"] = new("release", AttributeType.String, AttributeTarget.Directories, "/belle", null, false),
            ["nEvents"] = new("nEvents", AttributeType.Integer, AttributeTarget.Files, "/belle", null, true),
            ["isMC"] = new("isMC", AttributeType.Boolean, AttributeTarget.Files, "/belle", null, false),
            ["generated"] = new("generated", AttributeType.Timestamp, AttributeTarget.Files, "/belle", null, false),
        };
        string[] seeds =
        [
            "experiment between 7 and 10 and release in ('a','b')", "not (nEvents > 5 or isMC = true)", "lfn like '*x?y*'",
            "generated < '2026-01-01' and nEvents missing", "se in ('A','B') and guid = '00000000-0000-0000-0000-000000000001'",
        ];
        string[] pieces = ["(", ")", "'", "''", ",", "=", "!=", "<>", "<=", ">", " and ", " or ", " not ", " in ", " between ", " like ",
            " exists", " missing", "--", ";", "/*", "\u0435", "\uff1d", "\0", "\n", "1e5", "-3.5", "true", "x", "experiment", "release", "é"];
        var accepted = 0;
        for (var i = 0; i < 20_000; i++)
        {
            var text = i % 3 == 0
                ? string.Concat(Enumerable.Range(0, random.Next(1, 12)).Select(_ => pieces[random.Next(pieces.Length)]))
                : Mutate(seeds[random.Next(seeds.Length)], random, pieces);
            try
            {
                var tree = Parser.Parse(text);
                var compiler = new Compiler(attributes, i % 2 == 0 ? QueryTarget.Files : QueryTarget.Datasets);
                compiler.Compile(tree);
                Assert.DoesNotContain(compiler.Parameters, p => p.Value is null);
                accepted++;
            }
            catch (QueryException e)
            {
                Assert.InRange(e.Position, 0, text.Length);
                Assert.False(string.IsNullOrWhiteSpace(e.Reason));
            }
        }
        Assert.InRange(accepted, 1, 19_999); // both paths were exercised
    }

    private static string Mutate(string seed, Random random, string[] pieces)
    {
        var text = seed;
        for (var n = random.Next(1, 4); n > 0; n--)
        {
            var at = random.Next(text.Length + 1);
            text = random.Next(3) switch
            {
                0 => text.Insert(at, pieces[random.Next(pieces.Length)]),
                1 when text.Length > 0 => text.Remove(Math.Min(at, text.Length - 1), 1),
                _ => text[..at] + (char)random.Next(1, 0x3000) + text[at..],
            };
        }
        return text;
    }

    [Fact]
    public async Task Fuzzed_queries_through_http_are_200_or_400_never_500()
    {
        var (area, _) = await CatalogAsync();
        var random = new Random(7);
        string[] seeds = ["experiment between 7 and 10 and mcEventType in ('mixed','charged')", "not (nEvents > 5 or site = 'KEK')", "lfn like '*x?y*'"];
        string[] pieces = ["(", ")", "'", ",", "=", " and ", " or ", " not ", "--", ";", "\u0435", "1e5", "true", "experiment", "%", "_", "\\"];
        for (var i = 0; i < 300; i++)
        {
            var text = Mutate(seeds[i % seeds.Length], random, pieces);
            using var response = await Fx.Http.PostAsJsonAsync("api/v1/query", new { query = text, under = area, limit = 5 });
            Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.BadRequest, $"{(int)response.StatusCode} for: {text}");
        }
    }
}
