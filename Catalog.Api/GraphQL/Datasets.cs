using System.Text.Json;
using System.Text.Json.Nodes;
using Catalog.Api.Datasets;
using Catalog.Api.Errors;
using Catalog.Api.Lineage;
using Catalog.Api.Metadata;
using Catalog.Api.Security;
using Catalog.Contracts;
using GraphQL;
using GraphQL.Types;
using static Catalog.Api.GraphQL.CatalogQuery;

namespace Catalog.Api.GraphQL;

// Datasets, collections, lineage, attribute schemas and metadata values: the same services as
// REST, with JSON values (metadata objects, allowed-value lists) passed as JSON text like
// NewFileInput.metadata.

public sealed class DatasetGraphType : ObjectGraphType<DatasetInfo>
{
    public DatasetGraphType()
    {
        Name = "Dataset";
        Description = "A directory marked as a dataset (an LPN), with its own metadata and datablocks.";
        Field(x => x.Path);
        Field(x => x.MaxFilesPerBlock);
        Field(x => x.CurrentBlock);
        Field(x => x.Files, nullable: true).Description("Its length in files (in lists).");
        Field(x => x.Created, nullable: true).Description("When its directory was made (in lists).");
        Field<NonNullGraphType<EnumerationGraphType<DatasetState>>>("state").Description("Open, or closed: no more files; only closed datasets go into collections.").Resolve(c => c.Source.State);
        Field(x => x.Expires, nullable: true).Description("The end of its lifetime; after it the dataset is flagged for deletion.");
        Field<StringGraphType>("metadata").Description("The dataset's own values, as a JSON object.").Resolve(c => c.Source.Metadata?.ToJsonString());
        // Each costs a database read per dataset or collection listed, so each weighs like a root field.
        Field<NonNullGraphType<DatasetSummaryGraphType>>("summary")
            .Description("Files, bytes, events, ranges and per-SE completeness (one more read).")
            .ResolveAsync(async c => await S<DatasetService>(c).SummaryAsync(c.Source.Path, S<Caller>(c), c.CancellationToken))
            .WithComplexityImpact(CatalogSchema.DatabaseFieldImpact);
    }
}

public sealed class DatasetSummaryGraphType : ObjectGraphType<DatasetSummary>
{
    public DatasetSummaryGraphType()
    {
        Name = "DatasetSummary";
        Field(x => x.Path);
        Field(x => x.Files);
        Field(x => x.Bytes);
        Field(x => x.Events, nullable: true);
        Field(x => x.ExperimentLow, nullable: true);
        Field(x => x.ExperimentHigh, nullable: true);
        Field(x => x.RunLow, nullable: true);
        Field(x => x.RunHigh, nullable: true);
        Field(x => x.Datablocks);
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<SeUsageGraphType>>>>("perStorageElement")
            .Description("Per SE, the files with an available replica there.").Resolve(c => c.Source.PerStorageElement);
        Field<StringGraphType>("metadata").Resolve(c => c.Source.Metadata?.ToJsonString());
    }
}

public sealed class CollectionGraphType : ObjectGraphType<CollectionInfo>
{
    public CollectionGraphType()
    {
        Name = "Collection";
        Description = "A frozen set of datasets (or other collections).";
        Field(x => x.Path);
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<StringGraphType>>>>("members").Resolve(c => c.Source.Members);
        Field<StringGraphType>("metadata").Description("The collection's own values, as a JSON object.").Resolve(c => c.Source.Metadata?.ToJsonString());
        Field(x => x.Created);
        Field<NonNullGraphType<CollectionSummaryGraphType>>("summary")
            .Description("The totals of the datasets it holds (one more read per dataset).")
            .ResolveAsync(async c => await S<CollectionService>(c).SummaryAsync(c.Source.Path, S<Caller>(c), c.CancellationToken))
            .WithComplexityImpact(CatalogSchema.DatabaseFieldImpact);
        Field<NonNullGraphType<QueryPageGraphType>>("files")
            .Description("The files of its datasets, one page at a time (pass endCursor back as after).")
            .Argument<IntGraphType>("first")
            .Argument<StringGraphType>("after")
            .Argument<ListGraphType<NonNullGraphType<StringGraphType>>>("attributes", "Attributes to return with each file.")
            .ResolveAsync(async c => await S<QueryService>(c).PageAsync(
                new QueryRequest(null, c.Source.Path, QueryTarget.Files, c.GetArgument<List<string>?>("attributes") ?? ["size", "guid"],
                    c.GetArgument<string?>("after"), c.GetArgument<int?>("first")), S<Caller>(c), c.CancellationToken, new QueryService.Everything()))
            .WithComplexityImpact(CatalogSchema.DatabaseFieldImpact);
    }
}

public sealed class CollectionSummaryGraphType : ObjectGraphType<CollectionSummary>
{
    public CollectionSummaryGraphType()
    {
        Name = "CollectionSummary";
        Field(x => x.Path);
        Field(x => x.Datasets).Description("The datasets counted (those the caller may see).");
        Field(x => x.Files);
        Field(x => x.Bytes);
        Field(x => x.Events, nullable: true);
        Field(x => x.ExperimentLow, nullable: true);
        Field(x => x.ExperimentHigh, nullable: true);
        Field(x => x.RunLow, nullable: true);
        Field(x => x.RunHigh, nullable: true);
        Field(x => x.Datablocks);
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<SeUsageGraphType>>>>("perStorageElement").Resolve(c => c.Source.PerStorageElement);
    }
}

public sealed class LineageEdgeGraphType : ObjectGraphType<LineageEdge>
{
    public LineageEdgeGraphType()
    {
        Name = "LineageEdge";
        Field(x => x.Child);
        Field(x => x.Parent);
        Field(x => x.Depth).Description("1 for the file's own parents (or children), 2 for theirs, ...");
    }
}

public sealed class LineageGraphType : ObjectGraphType<LineageResponse>
{
    public LineageGraphType()
    {
        Name = "Lineage";
        Field(x => x.Lfn);
        Field<NonNullGraphType<EnumerationGraphType<LineageDirection>>>("direction").Resolve(c => c.Source.Direction);
        Field(x => x.Depth);
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<LineageEdgeGraphType>>>>("edges").Resolve(c => c.Source.Edges);
    }
}

public sealed class AttributeDefinitionGraphType : ObjectGraphType<AttributeDefinition>
{
    public AttributeDefinitionGraphType()
    {
        Name = "AttributeDefinition";
        Field(x => x.Name);
        Field<NonNullGraphType<EnumerationGraphType<AttributeType>>>("type").Resolve(c => c.Source.Type);
        Field<NonNullGraphType<EnumerationGraphType<AttributeTarget>>>("target").Resolve(c => c.Source.Target);
        Field(x => x.DefinedAt).Description("The directory that declares it.");
        Field<StringGraphType>("allowed").Description("The only values allowed, as a JSON array (null: any value of the type).")
            .Resolve(c => c.Source.Allowed is { } allowed ? new JsonArray(allowed.Select(v => v?.DeepClone()).ToArray()).ToJsonString() : null);
        Field(x => x.Indexed);
        Field(x => x.Pattern, nullable: true).Description("For strings: the regular expression every value matches in full.");
    }
}

public sealed class SchemaInForceGraphType : ObjectGraphType<SchemaInForce>
{
    public SchemaInForceGraphType()
    {
        Name = "SchemaInForce";
        Description = "The attributes in force at a path (declared on it or an ancestor) and its policy.";
        Field(x => x.Path);
        Field(x => x.Permissive).Description("Undeclared attributes are allowed here.");
        Field(x => x.PolicySetAt, nullable: true);
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<AttributeDefinitionGraphType>>>>("attributes").Resolve(c => c.Source.Attributes);
    }
}

public sealed class MetadataResultGraphType : ObjectGraphType<MetadataResult>
{
    public MetadataResultGraphType()
    {
        Name = "MetadataResult";
        Field(x => x.Index);
        Field(x => x.Path, nullable: true);
        Field(x => x.Ok);
        Field<StringGraphType>("own").Description("The values set on the entry itself, as a JSON object.").Resolve(c => c.Source.Own?.ToJsonString());
        Field<StringGraphType>("effective").Description("Its own values plus those its directories carry, as a JSON object.").Resolve(c => c.Source.Effective?.ToJsonString());
        Field<ItemErrorGraphType>("error").Resolve(c => c.Source.Error);
    }
}

public sealed class MetadataWriteInputType : InputObjectGraphType<MetadataWrite>
{
    public MetadataWriteInputType()
    {
        Name = "MetadataWriteInput";
        Field<NonNullGraphType<StringGraphType>>("path");
        Field<NonNullGraphType<StringGraphType>>("values").Description("A JSON object; a null value removes that attribute.");
    }

    public override object ParseDictionary(IDictionary<string, object?> value) =>
        new MetadataWrite(value.Get<string>("path"), JsonText.Object(value.Get<string>("values"), "values"));
}

public sealed class AttributeInputType : InputObjectGraphType<AttributeSpec>
{
    public AttributeInputType()
    {
        Name = "AttributeInput";
        Field<NonNullGraphType<StringGraphType>>("path").Description("The directory whose subtree it applies to.");
        Field<NonNullGraphType<StringGraphType>>("name");
        Field<NonNullGraphType<EnumerationGraphType<AttributeType>>>("type");
        Field<EnumerationGraphType<AttributeTarget>>("target").Description("FILES when absent.");
        Field<StringGraphType>("allowed").Description("The only values allowed, as a JSON array.");
        Field<BooleanGraphType>("indexed");
        Field<StringGraphType>("pattern").Description("For strings: a regular expression every value must match in full.");
    }

    public override object ParseDictionary(IDictionary<string, object?> value) =>
        new AttributeSpec(value.Get<string>("path"), value.Get<string>("name"), value.Get<AttributeType?>("type"),
            value.Get<AttributeTarget?>("target") ?? AttributeTarget.Files, JsonText.Array(value.Get<string>("allowed"), "allowed"),
            value.Get<bool?>("indexed") ?? false, value.Get<string>("pattern"));
}

/// <summary>JSON values carried as GraphQL strings; malformed text is a 400 naming the field.</summary>
internal static class JsonText
{
    public static JsonObject? Object(string? text, string field) =>
        Parse(text, field) switch { null => null, JsonObject o => o, _ => throw CatalogException.Invalid(field, "must be a JSON object") };

    public static IReadOnlyList<JsonNode?>? Array(string? text, string field) =>
        Parse(text, field) switch { null => null, JsonArray a => a.Select(v => v?.DeepClone()).ToList(), _ => throw CatalogException.Invalid(field, "must be a JSON array") };

    private static JsonNode? Parse(string? text, string field)
    {
        if (text is null) return null;
        try { return JsonNode.Parse(text); }
        catch (JsonException e) { throw CatalogException.Invalid(field, $"is not valid JSON ({e.Message})"); }
    }
}

public static class DatasetFields
{
    public static void AddQueries(ObjectGraphType query)
    {
        query.Field<DatasetGraphType>("dataset")
            .Argument<NonNullGraphType<StringGraphType>>("path")
            .ResolveAsync(async c => await S<DatasetService>(c).InfoAsync(c.GetArgument<string>("path"), S<Caller>(c), c.CancellationToken));
        query.Field<NonNullGraphType<ListGraphType<NonNullGraphType<DatasetGraphType>>>>("datasets")
            .Description("Datasets at or below a path, by path (pass the last path as after).")
            .Argument<StringGraphType>("under")
            .Argument<IntGraphType>("first")
            .Argument<StringGraphType>("after")
            .Argument<LongGraphType>("minFiles")
            .Argument<LongGraphType>("maxFiles")
            .Argument<DateTimeOffsetGraphType>("createdAfter")
            .Argument<DateTimeOffsetGraphType>("createdBefore")
            .ResolveAsync(async c => await S<DatasetService>(c).ListAsync(c.GetArgument<string?>("under"), c.GetArgument<string?>("after"),
                c.GetArgument<int?>("first"), S<Caller>(c), c.CancellationToken, new Storage.DatasetWindow(c.GetArgument<long?>("minFiles"),
                    c.GetArgument<long?>("maxFiles"), c.GetArgument<DateTimeOffset?>("createdAfter"), c.GetArgument<DateTimeOffset?>("createdBefore"))));
        query.Field<CollectionGraphType>("collection")
            .Argument<NonNullGraphType<StringGraphType>>("path")
            .ResolveAsync(async c => await S<CollectionService>(c).GetAsync(c.GetArgument<string>("path"), S<Caller>(c), c.CancellationToken));
        query.Field<NonNullGraphType<ListGraphType<NonNullGraphType<CollectionGraphType>>>>("collections")
            .Argument<StringGraphType>("under")
            .ResolveAsync(async c => await S<CollectionService>(c).ListAsync(c.GetArgument<string?>("under"), S<Caller>(c), c.CancellationToken));
        query.Field<LineageGraphType>("lineage")
            .Description("Ancestors (the default) or descendants of a file, to a depth.")
            .Argument<NonNullGraphType<StringGraphType>>("lfn")
            .Argument<EnumerationGraphType<LineageDirection>>("direction")
            .Argument<IntGraphType>("depth")
            .ResolveAsync(async c => await S<LineageService>(c).WalkAsync(c.GetArgument<string>("lfn"), c.GetArgument("direction", LineageDirection.Ancestors),
                c.GetArgument<int?>("depth"), S<Caller>(c), c.CancellationToken));
        query.Field<SchemaInForceGraphType>("schema")
            .Description("The attributes in force at a path and its policy.")
            .Argument<NonNullGraphType<StringGraphType>>("path")
            .ResolveAsync(async c => await S<SchemaService>(c).InForceAsync(c.GetArgument<string>("path"), S<Caller>(c), c.CancellationToken));
        query.Field<NonNullGraphType<ListGraphType<NonNullGraphType<MetadataResultGraphType>>>>("metadata")
            .Description("Own and effective values of files and directories, per item; unknown paths are answered per item.")
            .Argument<NonNullGraphType<ListGraphType<NonNullGraphType<StringGraphType>>>>("paths")
            .ResolveAsync(async c => (await S<MetadataService>(c).ReadAsync(new MetadataReadRequest(c.GetArgument<List<string>>("paths").ToList<string?>()),
                S<Caller>(c), c.CancellationToken)).Results);
    }

    public static void AddMutations(ObjectGraphType mutation)
    {
        mutation.Field<NonNullGraphType<DatasetGraphType>>("createDataset")
            .Description("Marks a directory (created if needed) as a dataset, with its own metadata and datablock size.")
            .Argument<NonNullGraphType<StringGraphType>>("path")
            .Argument<StringGraphType>("metadata", "A JSON object.")
            .Argument<IntGraphType>("maxFilesPerBlock")
            .ResolveAsync(async c => await S<DatasetService>(c).CreateAsync(new DatasetRequest(c.GetArgument<string>("path"),
                JsonText.Object(c.GetArgument<string?>("metadata"), "metadata"), c.GetArgument<int?>("maxFilesPerBlock")), S<Caller>(c), c.CancellationToken));
        mutation.Field<NonNullGraphType<DatasetGraphType>>("closeDataset")
            .Description("No more files go into it; only closed datasets go into collections.")
            .Argument<NonNullGraphType<StringGraphType>>("path")
            .ResolveAsync(async c => await S<DatasetService>(c).CloseAsync(new DatasetPathRequest(c.GetArgument<string>("path")), S<Caller>(c), c.CancellationToken));
        mutation.Field<NonNullGraphType<DatasetGraphType>>("reopenDataset")
            .Description("Lets files into a closed dataset again (data managers).")
            .Argument<NonNullGraphType<StringGraphType>>("path")
            .ResolveAsync(async c => await S<DatasetService>(c).ReopenAsync(new DatasetPathRequest(c.GetArgument<string>("path")), S<Caller>(c), c.CancellationToken));
        mutation.Field<NonNullGraphType<DatasetGraphType>>("setDatasetLifetime")
            .Description("After expires the dataset is flagged for deletion; null clears it.")
            .Argument<NonNullGraphType<StringGraphType>>("path")
            .Argument<DateTimeOffsetGraphType>("expires")
            .ResolveAsync(async c => await S<DatasetService>(c).SetLifetimeAsync(new DatasetLifetimeRequest(c.GetArgument<string>("path"),
                c.GetArgument<DateTimeOffset?>("expires")), S<Caller>(c), c.CancellationToken));
        mutation.Field<NonNullGraphType<CollectionGraphType>>("createCollection")
            .Description("Creates a frozen collection of datasets or collections, whole or not at all.")
            .Argument<NonNullGraphType<StringGraphType>>("path")
            .Argument<NonNullGraphType<ListGraphType<NonNullGraphType<StringGraphType>>>>("members")
            .Argument<StringGraphType>("metadata", "A JSON object.")
            .ResolveAsync(async c => await S<CollectionService>(c).CreateAsync(new CollectionRequest(c.GetArgument<string>("path"),
                c.GetArgument<List<string>>("members").ToList<string?>(), JsonText.Object(c.GetArgument<string?>("metadata"), "metadata")), S<Caller>(c), c.CancellationToken));
        mutation.Field<NonNullGraphType<SchemaInForceGraphType>>("declareAttribute")
            .Description("Declares a typed attribute on a directory for its whole subtree (admin).")
            .Argument<NonNullGraphType<AttributeInputType>>("attribute")
            .ResolveAsync(async c => await S<SchemaService>(c).DeclareAsync(c.GetArgument<AttributeSpec>("attribute"), S<Caller>(c), c.CancellationToken));
        mutation.Field<NonNullGraphType<SchemaInForceGraphType>>("extendAllowedValues")
            .Description("Adds values to the allowed list of a declaration made at a path (admin).")
            .Argument<NonNullGraphType<StringGraphType>>("path")
            .Argument<NonNullGraphType<StringGraphType>>("name")
            .Argument<NonNullGraphType<StringGraphType>>("allowed", "The values to add, as a JSON array.")
            .ResolveAsync(async c => await S<SchemaService>(c).ExtendAllowedAsync(new AllowedValuesRequest(c.GetArgument<string>("path"), c.GetArgument<string>("name"),
                JsonText.Array(c.GetArgument<string>("allowed"), "allowed")), S<Caller>(c), c.CancellationToken));
        mutation.Field<NonNullGraphType<SchemaInForceGraphType>>("removeAttribute")
            .Description("Removes a declaration made at a path, once no entry carries the attribute (admin).")
            .Argument<NonNullGraphType<StringGraphType>>("path")
            .Argument<NonNullGraphType<StringGraphType>>("name")
            .ResolveAsync(async c => await S<SchemaService>(c).RemoveAsync(c.GetArgument<string>("path"), c.GetArgument<string>("name"), S<Caller>(c), c.CancellationToken));
        mutation.Field<NonNullGraphType<SchemaInForceGraphType>>("setMetadataPolicy")
            .Description("Makes a subtree permissive (undeclared attributes allowed) or strict (admin).")
            .Argument<NonNullGraphType<StringGraphType>>("path")
            .Argument<NonNullGraphType<BooleanGraphType>>("permissive")
            .ResolveAsync(async c => await S<SchemaService>(c).SetPolicyAsync(new PolicyRequest(c.GetArgument<string>("path"), c.GetArgument<bool>("permissive")),
                S<Caller>(c), c.CancellationToken));
        mutation.Field<NonNullGraphType<ListGraphType<NonNullGraphType<MetadataResultGraphType>>>>("writeMetadata")
            .Description("Sets (or, with null, removes) values on files and directories, per item.")
            .Argument<NonNullGraphType<ListGraphType<NonNullGraphType<MetadataWriteInputType>>>>("items")
            .ResolveAsync(async c => (await S<MetadataService>(c).WriteAsync(new MetadataWriteRequest(c.GetArgument<List<MetadataWrite>>("items").ToList<MetadataWrite?>()),
                S<Caller>(c), c.CancellationToken)).Results);
    }
}
