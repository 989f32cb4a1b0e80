using System.Text.Json.Nodes;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Storage;
using Catalog.Tests.Infrastructure;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Catalog.Tests.Metadata;

[Collection(CatalogCollection.Name)]
public class SchemaAndValueTests(CatalogFixture fx) : MetadataTestBase(fx)
{
    [Fact]
    public async Task Declaring_again_exactly_what_is_declared_succeeds_and_changes_nothing_anything_else_conflicts()
    {
        var area = Area();
        await Fx.Client.MakeDirectoryAsync(area, parents: true);
        var spec = new AttributeSpec(area, "beam", AttributeType.String, AttributeTarget.Directories, [JsonValue.Create("4S"), JsonValue.Create("5S")], Indexed: true);
        var first = await Fx.Client.DeclareAttributeAsync(spec);

        var again = await Fx.Client.DeclareAttributeAsync(spec with { Allowed = [JsonValue.Create("4S"), JsonValue.Create("5S")] });
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(first, CatalogJson.Options), System.Text.Json.JsonSerializer.Serialize(again, CatalogJson.Options));
        // Nothing was written: the audit log (kept in order, written off the request path) holds one
        // declaration before a later write's record appears.
        await Fx.Client.MakeDirectoryAsync($"{area}/later");
        IReadOnlyList<AuditRecord> records = [];
        for (var until = DateTime.UtcNow.AddSeconds(30); !records.Any(r => r.Action == "mkdir" && r.Path == $"{area}/later") && DateTime.UtcNow < until; await Task.Delay(100))
            records = (await Fx.Client.AuditAsync(path: area)).Records;
        Assert.Contains(records, r => r.Action == "mkdir" && r.Path == $"{area}/later");
        Assert.Single(records, r => r.Action == "attribute.declare");

        foreach (var other in new[]
        {
            spec with { Type = AttributeType.Integer, Allowed = null },
            spec with { Target = AttributeTarget.Files },
            spec with { Indexed = false },
            spec with { Allowed = [JsonValue.Create("4S")] },
            spec with { Allowed = null },
        })
        {
            var conflict = await Assert.ThrowsAsync<CatalogConflictException>(() => Fx.Client.DeclareAttributeAsync(other));
            Assert.Contains($"already declared at {area} as string on directories with allowed values, indexed", conflict.Message);
        }
        Assert.Equal(["4S", "5S"], (await Fx.Client.GetSchemaAsync(area)).Attributes.Single(a => a.Name == "beam").Allowed!.Select(v => v!.GetValue<string>()));
    }

    [Fact]
    public async Task A_string_attribute_with_a_pattern_refuses_values_that_do_not_match_it_in_full()
    {
        var area = Area();
        await Fx.Client.MakeDirectoryAsync($"{area}/rel", parents: true);
        var spec = new AttributeSpec(area, "release", AttributeType.String, AttributeTarget.Directories, Pattern: @"release-\d{2}-\d{2}-\d{2}");
        var declared = await Fx.Client.DeclareAttributeAsync(spec);
        Assert.Equal(@"release-\d{2}-\d{2}-\d{2}", declared.Attributes.Single(a => a.Name == "release").Pattern);
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(declared, CatalogJson.Options),
            System.Text.Json.JsonSerializer.Serialize(await Fx.Client.DeclareAttributeAsync(spec), CatalogJson.Options)); // identical: nothing changes
        Assert.Contains("matching release-", (await Assert.ThrowsAsync<CatalogConflictException>(() =>
            Fx.Client.DeclareAttributeAsync(spec with { Pattern = "release-.*" }))).Message);

        var written = await Fx.Client.SetMetadataAsync([
            new MetadataWrite($"{area}/rel", new JsonObject { ["release"] = "release-08-01-00" }),
            new MetadataWrite(area, new JsonObject { ["release"] = "release-08-01-00-patch" }), // matches a prefix only: refused
        ]);
        Assert.True(written.Results[0].Ok);
        Assert.False(written.Results[1].Ok);
        Assert.Contains("does not match the pattern", written.Results[1].Error!.Message);
        Assert.Equal("values.release", written.Results[1].Error!.Field?.Replace("items[1].", ""));
        Assert.Null((await Fx.Client.GetMetadataAsync([area])).Results[0].Own?["release"]); // the refused value is not stored

        foreach (var (bad, field) in new (AttributeSpec, string)[]
        {
            (new(area, "n", AttributeType.Integer, Pattern: "[0-9]+"), "pattern"),
            (new(area, "p", AttributeType.String, Pattern: "(unclosed"), "pattern"),
            (new(area, "q", AttributeType.String, AttributeTarget.Files, [JsonValue.Create("release-08-01-00"), JsonValue.Create("rel8")], Pattern: @"release-\d{2}-\d{2}-\d{2}"), "allowed[1]"),
        })
            Assert.Equal(field, (await Assert.ThrowsAsync<CatalogValidationException>(() => Fx.Client.DeclareAttributeAsync(bad))).Field);
    }

    [Fact]
    public async Task Allowed_values_can_be_added_never_removed_and_only_where_declared()
    {
        var area = Area();
        await Fx.Client.MakeDirectoryAsync($"{area}/below", parents: true);
        await Fx.Client.DeclareAttributeAsync(new AttributeSpec(area, "mcEventType", AttributeType.String, AttributeTarget.Directories,
            [JsonValue.Create("mixed"), JsonValue.Create("charged")]));
        await Fx.Client.DeclareAttributeAsync(new AttributeSpec(area, "luminosity", AttributeType.Float, AttributeTarget.Directories));
        Assert.False((await Fx.Client.SetMetadataAsync([new MetadataWrite($"{area}/below", new JsonObject { ["mcEventType"] = "taupair" })])).Results[0].Ok);

        var extended = await Fx.Client.ExtendAllowedValuesAsync(area, "mcEventType", [JsonValue.Create("taupair"), JsonValue.Create("mixed")]);
        Assert.Equal(["mixed", "charged", "taupair"], extended.Attributes.Single(a => a.Name == "mcEventType").Allowed!.Select(v => v!.GetValue<string>()));
        Assert.True((await Fx.Client.SetMetadataAsync([new MetadataWrite($"{area}/below", new JsonObject { ["mcEventType"] = "taupair" })])).Results[0].Ok);

        // Refused, and nothing changes: no list to extend, not declared here, a value of the wrong type, not an admin.
        await Assert.ThrowsAsync<CatalogConflictException>(() => Fx.Client.ExtendAllowedValuesAsync(area, "luminosity", [JsonValue.Create(1.5)]));
        await Assert.ThrowsAsync<CatalogConflictException>(() => Fx.Client.ExtendAllowedValuesAsync($"{area}/below", "mcEventType", [JsonValue.Create("x")]));
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => Fx.Client.ExtendAllowedValuesAsync(area, "nope", [JsonValue.Create("x")]));
        Assert.Equal("allowed[0]", (await Assert.ThrowsAsync<CatalogValidationException>(() =>
            Fx.Client.ExtendAllowedValuesAsync(area, "mcEventType", [JsonValue.Create(7)]))).Field);
        var reader = Fx.ClientWith(await Fx.IssueTokenAsync("r-" + Guid.NewGuid().ToString("N")[..6], ["data-manager"], ["storage.read:/", "storage.modify:/"]));
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => reader.ExtendAllowedValuesAsync(area, "mcEventType", [JsonValue.Create("x")]));
        Assert.Equal(3, (await Fx.Client.GetSchemaAsync(area)).Attributes.Single(a => a.Name == "mcEventType").Allowed!.Count);
    }

    [Fact]
    public async Task Attributes_are_inherited_and_a_redefinition_says_where_the_first_is()
    {
        var area = Area();
        await Fx.Client.MakeDirectoryAsync($"{area}/mc/sub", parents: true);
        await Fx.Client.DeclareAttributeAsync(new AttributeSpec(area, "release", AttributeType.String, AttributeTarget.Directories));
        await Fx.Client.DeclareAttributeAsync(new AttributeSpec($"{area}/mc", "nEvents", AttributeType.Integer, AttributeTarget.Files, Indexed: true));

        var schema = await Fx.Client.GetSchemaAsync($"{area}/mc/sub");
        Assert.Equal([("release", area), ("nEvents", $"{area}/mc")], schema.Attributes.Select(a => (a.Name, a.DefinedAt)));

        var below = await Assert.ThrowsAsync<CatalogConflictException>(() =>
            Fx.Client.DeclareAttributeAsync(new AttributeSpec($"{area}/mc/sub", "release", AttributeType.Integer)));
        Assert.Contains($"already declared at {area}", below.Message);
        var above = await Assert.ThrowsAsync<CatalogConflictException>(() =>
            Fx.Client.DeclareAttributeAsync(new AttributeSpec(area, "nEvents", AttributeType.Integer)));
        Assert.Contains($"already declared below, at {area}/mc", above.Message);

        foreach (var (spec, field) in new (AttributeSpec, string)[]
        {
            (new(area, "bad name", AttributeType.String), "name"),
            (new(area, "size", AttributeType.String), "name"),
            (new(area, "x", null), "type"),
            (new(area, "y", AttributeType.Integer, AttributeTarget.Files, ["seven"]), "allowed[0]"),
        })
            Assert.Equal(field, (await Assert.ThrowsAsync<CatalogValidationException>(() => Fx.Client.DeclareAttributeAsync(spec))).Field);

        await Fx.Client.RemoveAttributeAsync($"{area}/mc", "nEvents");
        Assert.DoesNotContain((await Fx.Client.GetSchemaAsync($"{area}/mc/sub")).Attributes, a => a.Name == "nEvents");
        await Assert.ThrowsAsync<CatalogConflictException>(() => Fx.Client.RemoveAttributeAsync($"{area}/mc", "release"));
    }

    [Fact]
    public async Task Declaring_an_attribute_over_many_files_rewrites_no_rows()
    {
        var area = Area();
        var se = await Fx.NewStorageElementAsync();
        await Fx.Client.MakeDirectoryAsync(area, parents: true);
        await Fx.Client.SetMetadataPolicyAsync(area, permissive: true);
        await Fx.Client.RegisterAsync(Enumerable.Range(0, 500).Select(i => File($"{area}/f{i}.root", se)).ToList());
        await using var db = NpgsqlDataSource.Create(Fx.PostgresConnectionString);
        await using var conn = await db.OpenConnectionAsync();
        const string versions = "select string_agg(f.xmin::text, ',' order by f.id) from file f join directory d on d.id = f.dir_id where d.path = @area";
        var before = await conn.ExecuteScalarAsync<string>(versions, new { area });

        await Fx.Client.DeclareAttributeAsync(new AttributeSpec(area, "runLow", AttributeType.Integer, AttributeTarget.Files, Indexed: true));

        Assert.Equal(before, await conn.ExecuteScalarAsync<string>(versions, new { area }));
    }

    [Fact]
    public async Task Values_are_type_checked_per_item_set_read_and_removed_in_bulk()
    {
        var area = await DeclareDomainSchemaAsync(Area());
        var se = await Fx.NewStorageElementAsync();
        var files = Enumerable.Range(0, 10_000).Select(i => $"{area}/ds/f{i:D5}.root").ToList();
        await Fx.Client.MakeDirectoryAsync($"{area}/ds", parents: true);
        foreach (var chunk in files.Chunk(5_000)) await Fx.Client.RegisterAsync(chunk.Select(f => File(f, se)).ToList());

        var written = await Fx.Client.SetMetadataAsync(files.Select((f, i) => new MetadataWrite(f, new JsonObject { ["nEvents"] = i, ["site"] = "KEK" })));
        Assert.All(written.Results, r => Assert.True(r.Ok, r.Error?.Message));

        var bad = await Fx.Client.SetMetadataAsync(
        [
            new MetadataWrite(files[0], new JsonObject { ["nEvents"] = "many" }),
            new MetadataWrite(files[1], new JsonObject { ["nope"] = 1 }),
            new MetadataWrite(files[2], new JsonObject { ["release"] = "r1" }),          // a directory attribute on a file
            new MetadataWrite($"{area}/ds", new JsonObject { ["dataLevel"] = "cdst" }),   // not an allowed value
            new MetadataWrite($"{area}/ds/absent.root", new JsonObject { ["nEvents"] = 1 }),
            new MetadataWrite(files[3], new JsonObject { ["generated"] = "2026-11-25T10:00:00+01:00", ["isMC"] = true }),
        ]);
        Assert.Equal("items[0].values.nEvents", bad.Results[0].Error!.Field);
        Assert.Contains("\"many\" is not a valid integer", bad.Results[0].Error!.Message);
        Assert.Contains("unknown attribute 'nope'", bad.Results[1].Error!.Message);
        Assert.Contains("declared for directories", bad.Results[2].Error!.Message);
        Assert.Contains("not one of the allowed values", bad.Results[3].Error!.Message);
        Assert.Equal(ErrorCode.NotFound, bad.Results[4].Error!.Code);
        Assert.True(bad.Results[5].Ok);

        var read = await Fx.Client.GetMetadataAsync([files[0], files[3], $"{area}/ds/absent.root", "relative"]);
        Assert.Equal(0, (int)read.Results[0].Own!["nEvents"]!);
        Assert.Equal("2026-11-25T09:00:00.0000000Z", (string)read.Results[1].Own!["generated"]!);
        Assert.Equal(ErrorCode.NotFound, read.Results[2].Error!.Code);
        Assert.Equal(ErrorCode.InvalidLfn, read.Results[3].Error!.Code);

        await Fx.Client.SetMetadataAsync([new MetadataWrite(files[0], new JsonObject { ["site"] = null })]);
        Assert.False((await Fx.Client.GetMetadataAsync([files[0]])).Results[0].Own!.ContainsKey("site"));
    }

    [Fact]
    public async Task An_attribute_is_set_at_one_level_of_a_path_and_files_inherit_it()
    {
        var area = await DeclareDomainSchemaAsync(Area());
        var se = await Fx.NewStorageElementAsync();
        await Fx.Client.MakeDirectoryAsync($"{area}/a/b", parents: true);
        Assert.True((await Fx.Client.SetMetadataAsync([new MetadataWrite($"{area}/a", new JsonObject { ["release"] = "release-08-01-00" })])).Results[0].Ok);

        var below = await Fx.Client.SetMetadataAsync([new MetadataWrite($"{area}/a/b", new JsonObject { ["release"] = "other" })]);
        Assert.Equal(ErrorCode.Conflict, below.Results[0].Error!.Code);
        Assert.Contains($"already set at {area}/a", below.Results[0].Error!.Message);
        var above = await Fx.Client.SetMetadataAsync([new MetadataWrite(area, new JsonObject { ["release"] = "other" })]);
        Assert.Contains($"already set at {area}/a", above.Results[0].Error!.Message);

        // Registered after the directory was tagged: inherits anyway.
        await Fx.Client.RegisterAsync([File($"{area}/a/b/late.root", se, new JsonObject { ["nEvents"] = 5 })]);
        var late = (await Fx.Client.GetMetadataAsync([$"{area}/a/b/late.root"])).Results[0];
        Assert.Equal("release-08-01-00", (string)late.Effective!["release"]!);
        Assert.False(late.Own!.ContainsKey("release"));
        var page = await Fx.Client.QueryAsync(new QueryRequest("release = 'release-08-01-00'", area));
        Assert.Equal([$"{area}/a/b/late.root"], page.Rows.Select(r => r.Path));

        // Moving the tagged directory elsewhere takes its values along; the old place loses them.
        await Fx.Client.MoveAsync($"{area}/a", $"{area}/moved");
        Assert.Equal("release-08-01-00", (string)(await Fx.Client.GetMetadataAsync([$"{area}/moved/b"])).Results[0].Effective!["release"]!);
    }

    [Fact]
    public async Task Registration_checks_metadata_against_the_schema_in_force()
    {
        var area = await DeclareDomainSchemaAsync(Area());
        var se = await Fx.NewStorageElementAsync();
        var response = await Fx.Client.RegisterAsync(
        [
            File($"{area}/d/ok.root", se, new JsonObject { ["nEvents"] = 10, ["site"] = "KEK" }),
            File($"{area}/d/unknown.root", se, new JsonObject { ["nEventz"] = 10 }),
            File($"{area}/d/type.root", se, new JsonObject { ["nEvents"] = 1.5 }),
        ]);
        Assert.Equal(ItemStatus.Created, response.Results[0].Status);
        Assert.Contains("unknown attribute 'nEventz'", response.Results[1].Error!.Message);
        Assert.Equal("files[1].metadata.nEventz", response.Results[1].Error!.Field);
        Assert.Contains("not a valid integer", response.Results[2].Error!.Message);

        await Fx.Client.MakeDirectoryAsync($"{area}/free", parents: true);
        await Fx.Client.SetMetadataPolicyAsync($"{area}/free", permissive: true);
        Assert.Equal(ItemStatus.Created, (await Fx.Client.RegisterAsync([File($"{area}/free/x.root", se, new JsonObject { ["anything"] = "goes" })])).Results[0].Status);
    }
}
