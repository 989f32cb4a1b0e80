using System.Text.Json;
using System.Text.Json.Nodes;
using Catalog.Api.Errors;
using Catalog.Contracts;
using GraphQL.Types;

namespace Catalog.Api.GraphQL;

// Inputs build the same request records as REST, field by field, so validation stays in the services.

public sealed class NewReplicaInputType : InputObjectGraphType<NewReplica>
{
    public NewReplicaInputType()
    {
        Name = "NewReplicaInput";
        Field<NonNullGraphType<StringGraphType>>("se");
        Field<StringGraphType>("pfn");
        Field<EnumerationGraphType<ReplicaState>>("state");
    }

    public override object ParseDictionary(IDictionary<string, object?> value) =>
        new NewReplica(value.Get<string>("se"), value.Get<string>("pfn"), value.Get<ReplicaState?>("state"));
}

public sealed class NewFileInputType : InputObjectGraphType<NewFile>
{
    public NewFileInputType()
    {
        Name = "NewFileInput";
        Field<NonNullGraphType<StringGraphType>>("lfn");
        Field<NonNullGraphType<LongGraphType>>("size");
        Field<NonNullGraphType<StringGraphType>>("adler32").Description("8 hex digits.");
        Field<IdGraphType>("guid").Description("Generated when absent.");
        Field<StringGraphType>("md5");
        Field<ListGraphType<NonNullGraphType<NewReplicaInputType>>>("replicas");
        Field<StringGraphType>("metadata").Description("A JSON object, as text.");
        Field<StringGraphType>("dataset").Description("Register into this dataset's current datablock; lfn is then just the file name.");
        Field<ListGraphType<NonNullGraphType<StringGraphType>>>("parents").Description("LFNs of the files this one was made from.");
    }

    public override object ParseDictionary(IDictionary<string, object?> value)
    {
        var guidText = value.Get<object>("guid")?.ToString();
        Guid? guid = guidText is null ? null : Guid.TryParse(guidText, out var g) ? g : throw CatalogException.Invalid("guid", "must be a GUID");
        var metadata = JsonText.Object(value.Get<string>("metadata"), "metadata");
        var replicas = value.Get<IEnumerable<object>>("replicas")?.Cast<NewReplica>().ToList();
        return new NewFile(value.Get<string>("lfn"), value.Get<long?>("size"), value.Get<string>("adler32"), guid,
            value.Get<string>("md5"), replicas, metadata, value.Get<string>("dataset"),
            value.Get<IEnumerable<object>>("parents")?.Select(p => (string?)p?.ToString()).ToList());
    }
}

public sealed class ReplicaRefInputType : InputObjectGraphType<ReplicaRef>
{
    public ReplicaRefInputType()
    {
        Name = "ReplicaInput";
        Field<NonNullGraphType<StringGraphType>>("lfn");
        Field<NonNullGraphType<StringGraphType>>("se");
        Field<StringGraphType>("pfn");
        Field<EnumerationGraphType<ReplicaState>>("state");
    }

    public override object ParseDictionary(IDictionary<string, object?> value) =>
        new ReplicaRef(value.Get<string>("lfn"), value.Get<string>("se"), value.Get<string>("pfn"), value.Get<ReplicaState?>("state"));
}

public sealed class StorageElementInputType : InputObjectGraphType<StorageElementSpec>
{
    public StorageElementInputType()
    {
        Name = "StorageElementInput";
        Field<NonNullGraphType<StringGraphType>>("site");
        Field<NonNullGraphType<StringGraphType>>("protocol");
        Field<NonNullGraphType<StringGraphType>>("baseUrl");
        Field<BooleanGraphType>("readEnabled");
        Field<BooleanGraphType>("writeEnabled");
        Field<EnumerationGraphType<StorageElementState>>("state");
    }

    public override object ParseDictionary(IDictionary<string, object?> value) => new StorageElementSpec(
        value.Get<string>("site"), value.Get<string>("protocol"), value.Get<string>("baseUrl"),
        value.Get<bool?>("readEnabled") ?? true, value.Get<bool?>("writeEnabled") ?? true,
        value.Get<StorageElementState?>("state") ?? StorageElementState.Online);
}

internal static class InputDictionary
{
    public static T? Get<T>(this IDictionary<string, object?> value, string key) =>
        value.TryGetValue(key, out var v) && v is not null ? (T)v : default;
}
