using Catalog.Api.Replicas;
using Catalog.Contracts;
using GraphQL;
using GraphQL.Types;

namespace Catalog.Api.GraphQL;

// Output types mirror Catalog.Contracts one to one, so both doors show the same model.

public sealed class StorageElementGraphType : ObjectGraphType<StorageElement>
{
    public StorageElementGraphType()
    {
        Name = "StorageElement";
        Field(x => x.Name);
        Field(x => x.Site);
        Field(x => x.Protocol);
        Field(x => x.BaseUrl);
        Field(x => x.ReadEnabled);
        Field(x => x.WriteEnabled);
        Field<NonNullGraphType<EnumerationGraphType<StorageElementState>>>("state").Resolve(c => c.Source.State);
        Field(x => x.Files).Description("Replicas held on this SE.");
        Field(x => x.Bytes).Description("Bytes of the replicas held on this SE.");
        Field<StringGraphType>("attributes").Description("Free-form attributes (tier, region, ...) as a JSON object; SE expressions select by them.")
            .Resolve(c => c.Source.Attributes is { } a ? System.Text.Json.JsonSerializer.Serialize(a) : null);
    }
}

public sealed class ReplicaGraphType : ObjectGraphType<Replica>
{
    public ReplicaGraphType()
    {
        Name = "Replica";
        Field(x => x.Se);
        Field(x => x.Pfn);
        Field<NonNullGraphType<EnumerationGraphType<ReplicaState>>>("state").Resolve(c => c.Source.State);
        Field(x => x.Created);
    }
}

public sealed class FileGraphType : ObjectGraphType<Contracts.FileInfo>
{
    public FileGraphType()
    {
        Name = "File";
        Field(x => x.Lfn);
        Field<NonNullGraphType<IdGraphType>>("guid").Resolve(c => c.Source.Guid);
        Field(x => x.Size);
        Field(x => x.Adler32);
        Field(x => x.Md5, nullable: true);
        Field<NonNullGraphType<EnumerationGraphType<FileStatus>>>("status").Resolve(c => c.Source.Status);
        Field(x => x.Owner);
        Field(x => x.Group);
        Field(x => x.Mode);
        Field(x => x.Created);
        Field(x => x.Modified);
        Field<StringGraphType>("metadata").Description("The metadata object as JSON text.")
            .Resolve(c => c.Source.Metadata?.ToJsonString());
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<ReplicaGraphType>>>>("replicas").Resolve(c => c.Source.Replicas);
    }
}

public sealed class EntryGraphType : ObjectGraphType<Entry>
{
    public EntryGraphType()
    {
        Name = "Entry";
        Description = "A directory or a file in a listing.";
        Field(x => x.Name);
        Field(x => x.Path);
        Field<NonNullGraphType<EnumerationGraphType<EntryType>>>("type").Resolve(c => c.Source.Type);
        Field(x => x.Owner);
        Field(x => x.Group);
        Field(x => x.Mode);
        Field(x => x.Created);
        Field(x => x.Modified);
        Field<IdGraphType>("guid").Resolve(c => c.Source.Guid);
        Field(x => x.Size, nullable: true);
        Field(x => x.Adler32, nullable: true);
        Field<ListGraphType<NonNullGraphType<ReplicaGraphType>>>("replicas")
            .Description("Replicas of a file (null for directories). All files of a page are looked up in one batched query.")
            .Resolve(c => c.Source.Type == EntryType.File
                ? c.RequestServices!.GetRequiredService<ReplicaBatch>().Load(c.Source.Path)
                : null);
    }
}

public sealed class PageInfoGraphType : ObjectGraphType<DirectoryPage>
{
    public PageInfoGraphType()
    {
        Name = "PageInfo";
        Field<NonNullGraphType<BooleanGraphType>>("hasNextPage").Resolve(c => c.Source.Next is not null);
        Field<StringGraphType>("endCursor").Resolve(c => c.Source.Next);
    }
}

public sealed class DirectoryPageGraphType : ObjectGraphType<DirectoryPage>
{
    public DirectoryPageGraphType()
    {
        Name = "DirectoryPage";
        Field(x => x.Path);
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<EntryGraphType>>>>("entries").Resolve(c => c.Source.Entries);
        Field<NonNullGraphType<PageInfoGraphType>>("pageInfo").Resolve(c => c.Source);
    }
}

public sealed class SeUsageGraphType : ObjectGraphType<SeUsage>
{
    public SeUsageGraphType()
    {
        Name = "SeUsage";
        Field(x => x.Se);
        Field(x => x.Files);
        Field(x => x.Bytes);
    }
}

public sealed class UsageGraphType : ObjectGraphType<Usage>
{
    public UsageGraphType()
    {
        Name = "Usage";
        Field(x => x.Path);
        Field(x => x.Files);
        Field(x => x.Bytes);
        Field(x => x.Directories);
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<SeUsageGraphType>>>>("perStorageElement").Resolve(c => c.Source.PerStorageElement);
    }
}

public sealed class ItemErrorGraphType : ObjectGraphType<ItemError>
{
    public ItemErrorGraphType()
    {
        Name = "ItemError";
        Field<NonNullGraphType<StringGraphType>>("code").Resolve(c => c.Source.Code.ToWire());
        Field(x => x.Message);
        Field(x => x.Field, nullable: true);
    }
}

public sealed class LookupResultGraphType : ObjectGraphType<LookupResult>
{
    public LookupResultGraphType()
    {
        Name = "LookupResult";
        Field(x => x.Lfn, nullable: true);
        Field<IdGraphType>("guid").Resolve(c => c.Source.Guid);
        Field(x => x.Size, nullable: true);
        Field(x => x.Adler32, nullable: true);
        Field<ListGraphType<NonNullGraphType<ReplicaGraphType>>>("replicas").Resolve(c => c.Source.Replicas);
        Field<ItemErrorGraphType>("error").Resolve(c => c.Source.Error);
    }
}

public sealed class RegisterResultGraphType : ObjectGraphType<RegisterResult>
{
    public RegisterResultGraphType()
    {
        Name = "RegisterResult";
        Field(x => x.Index);
        Field(x => x.Lfn, nullable: true);
        Field<NonNullGraphType<EnumerationGraphType<ItemStatus>>>("status").Resolve(c => c.Source.Status);
        Field<IdGraphType>("guid").Resolve(c => c.Source.Guid);
        Field(x => x.ReplicasAdded);
        Field<ItemErrorGraphType>("error").Resolve(c => c.Source.Error);
    }
}

public sealed class RegisterResponseGraphType : ObjectGraphType<RegisterResponse>
{
    public RegisterResponseGraphType()
    {
        Name = "RegisterResponse";
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<RegisterResultGraphType>>>>("results").Resolve(c => c.Source.Results);
        Field(x => x.Created);
        Field(x => x.Existing);
        Field(x => x.Failed);
    }
}

public sealed class CorrectionResultGraphType : ObjectGraphType<CorrectionResult>
{
    public CorrectionResultGraphType()
    {
        Name = "CorrectionResult";
        Field(x => x.Index);
        Field(x => x.Lfn, nullable: true);
        Field(x => x.Ok);
        Field<ListGraphType<NonNullGraphType<StringGraphType>>>("changed").Description("What changed: status, size, adler32, md5 (empty when it was so already).")
            .Resolve(c => c.Source.Changed);
        Field<ItemErrorGraphType>("error").Resolve(c => c.Source.Error);
    }
}

public sealed class FileCorrectionInputType : InputObjectGraphType<FileCorrection>
{
    public FileCorrectionInputType()
    {
        Name = "FileCorrectionInput";
        Field<NonNullGraphType<StringGraphType>>("lfn");
        Field<NonNullGraphType<StringGraphType>>("reason").Description("Why: audited with the old and new values.");
        Field<EnumerationGraphType<FileStatus>>("status");
        Field<LongGraphType>("size");
        Field<StringGraphType>("adler32");
        Field<StringGraphType>("md5");
    }

    public override object ParseDictionary(IDictionary<string, object?> value) =>
        new FileCorrection(value.Get<string>("lfn"), value.Get<string>("reason"), value.Get<FileStatus?>("status"), value.Get<long?>("size"),
            value.Get<string>("adler32"), value.Get<string>("md5"));
}

public sealed class ReplicaResultGraphType : ObjectGraphType<ReplicaResult>
{
    public ReplicaResultGraphType()
    {
        Name = "ReplicaResult";
        Field(x => x.Index);
        Field(x => x.Lfn, nullable: true);
        Field(x => x.Se, nullable: true);
        Field<NonNullGraphType<EnumerationGraphType<ReplicaOutcome>>>("outcome").Resolve(c => c.Source.Outcome);
        Field<ItemErrorGraphType>("error").Resolve(c => c.Source.Error);
    }
}

public sealed class RemoveResultGraphType : ObjectGraphType<RemoveResult>
{
    public RemoveResultGraphType()
    {
        Name = "RemoveResult";
        Field(x => x.Path, nullable: true);
        Field<NonNullGraphType<EnumerationGraphType<RemoveStatus>>>("status").Resolve(c => c.Source.Status);
        Field(x => x.FilesRemoved);
        Field(x => x.DirectoriesRemoved);
        Field<ItemErrorGraphType>("error").Resolve(c => c.Source.Error);
    }
}
