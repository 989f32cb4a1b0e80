using Catalog.Api.Files;
using Catalog.Api.Namespace;
using Catalog.Api.Replicas;
using Catalog.Api.StorageElements;
using Catalog.Api.Security;
using Catalog.Contracts;
using GraphQL;
using GraphQL.Types;

namespace Catalog.Api.GraphQL;

/// <summary>The GraphQL door: every resolver is one call into the same services REST uses.</summary>
public sealed class CatalogSchema : Schema
{
    /// <summary>
    /// What one root field costs in the complexity analysis: each reads or writes the database, so
    /// it weighs like a large page of scalars. With the default budget (20,000) a document holds at
    /// most 80 of them: 5,000 aliased <c>usage</c> fields (5,000 queries) are refused before any runs.
    /// </summary>
    public const double DatabaseFieldImpact = 250;

    /// <summary>
    /// Introspection reads the schema held in memory, not the database, but its lists nest deeply
    /// (types, fields, arguments, ofType chains), and the default multiplier prices the IDE's standard
    /// introspection query at about 800,000. Scaled by this it costs about 8,000: the IDE and
    /// code generators load the schema in one request, while a document repeating it many times
    /// is still refused.
    /// </summary>
    public const double IntrospectionImpact = 0.01;

    public CatalogSchema(IServiceProvider services, CatalogQuery query, CatalogMutation mutation) : base(services)
    {
        Query = query;
        Mutation = mutation;
        foreach (var field in query.Fields.Concat(mutation.Fields)) field.WithComplexityImpact(DatabaseFieldImpact);
        this.WithIntrospectionComplexityImpact(IntrospectionImpact);
    }
}

/// <summary>
/// Root fields that name one entry are nullable: a document asking for several answers the ones
/// that exist and an error (with its path) for each that does not, instead of data: null for all.
/// </summary>
public sealed class CatalogQuery : ObjectGraphType
{
    public CatalogQuery()
    {
        Name = "Query";
        Field<DirectoryPageGraphType>("directory")
            .Description("One page of a directory, sorted by name. Pass pageInfo.endCursor as 'after' for the next.")
            .Argument<NonNullGraphType<StringGraphType>>("path")
            .Argument<IntGraphType>("first")
            .Argument<StringGraphType>("after")
            .ResolveAsync(async c => await S<NamespaceService>(c).ListAsync(
                c.GetArgument<string>("path"), c.GetArgument<string?>("after"), c.GetArgument<int?>("first"), CatalogQuery.S<Caller>(c), c.CancellationToken));
        Field<EntryGraphType>("stat")
            .Argument<NonNullGraphType<StringGraphType>>("path")
            .ResolveAsync(async c => await S<NamespaceService>(c).StatAsync(c.GetArgument<string>("path"), CatalogQuery.S<Caller>(c), c.CancellationToken));
        Field<FileGraphType>("file")
            .Argument<NonNullGraphType<StringGraphType>>("lfn")
            .ResolveAsync(async c => await S<FileService>(c).GetAsync(c.GetArgument<string>("lfn"), CatalogQuery.S<Caller>(c), c.CancellationToken));
        Field<StringGraphType>("lfnByGuid")
            .Argument<NonNullGraphType<IdGraphType>>("guid")
            .ResolveAsync(async c => (await S<FileService>(c).ByGuidAsync(ParseGuid(c.GetArgument<string>("guid")), CatalogQuery.S<Caller>(c), c.CancellationToken)).Lfn);
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<LookupResultGraphType>>>>("lookup")
            .Description("Bulk LFN -> usable replicas (all: every state); unknown LFNs are answered per item.")
            .Argument<NonNullGraphType<ListGraphType<NonNullGraphType<StringGraphType>>>>("lfns")
            .Argument<BooleanGraphType>("all", "Every replica whatever its state and SE.")
            .Argument<StringGraphType>("se", "Only replicas on the SEs this expression selects (tier=1&region!=asia, a name, ...).")
            .ResolveAsync(async c =>
            {
                var results = new List<LookupResult>();
                var request = new LookupRequest(c.GetArgument<List<string>>("lfns").ToList<string?>(), c.GetArgument<bool?>("all"), c.GetArgument<string?>("se"));
                var service = S<ReplicaService>(c);
                await foreach (var r in service.Lookup(request, S<Caller>(c), c.CancellationToken, await service.SesForAsync(request, c.CancellationToken))) results.Add(r);
                return results;
            });
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<StorageElementGraphType>>>>("storageElements")
            .Argument<StringGraphType>("expression", "Only the SEs this expression selects (tier=1&region!=asia, site=KEK, a name, ...).")
            .ResolveAsync(async c => await S<StorageElementService>(c).ListAsync(c.GetArgument<string?>("expression"), CatalogQuery.S<Caller>(c), c.CancellationToken));
        Field<StorageElementGraphType>("storageElement")
            .Argument<NonNullGraphType<StringGraphType>>("name")
            .ResolveAsync(async c => await S<StorageElementService>(c).GetAsync(c.GetArgument<string>("name"), CatalogQuery.S<Caller>(c), c.CancellationToken));
        Field<UsageGraphType>("usage")
            .Argument<NonNullGraphType<StringGraphType>>("path")
            .ResolveAsync(async c => await S<NamespaceService>(c).UsageAsync(c.GetArgument<string>("path"), CatalogQuery.S<Caller>(c), c.CancellationToken));
        SearchFields.Add(this);
        SearchFields.AddFacets(this);
        DatasetFields.AddQueries(this);
    }

    internal static T S<T>(IResolveFieldContext c) where T : notnull => c.RequestServices!.GetRequiredService<T>();

    internal static Guid ParseGuid(string text) =>
        Guid.TryParse(text, out var g) ? g : throw Errors.CatalogException.Invalid("guid", "must be a GUID");
}

public sealed class CatalogMutation : ObjectGraphType
{
    public CatalogMutation()
    {
        Name = "Mutation";
        Field<NonNullGraphType<RegisterResponseGraphType>>("registerFiles")
            .Argument<NonNullGraphType<ListGraphType<NonNullGraphType<NewFileInputType>>>>("files")
            .Argument<StringGraphType>("idempotencyKey")
            .ResolveAsync(async c =>
            {
                var files = c.GetArgument<List<NewFile>>("files");
                DocumentBudget.ChargeBatch(c, files.Count);
                return await CatalogQuery.S<RegistrationService>(c).RegisterAsync(new RegisterRequest(files.ToList<NewFile?>()),
                    c.GetArgument<string?>("idempotencyKey"), CatalogQuery.S<Caller>(c), c.CancellationToken);
            });
        Field<NonNullGraphType<EntryGraphType>>("makeDirectory")
            .Argument<NonNullGraphType<StringGraphType>>("path")
            .Argument<BooleanGraphType>("parents")
            .Argument<IntGraphType>("mode")
            .ResolveAsync(async c => await CatalogQuery.S<NamespaceService>(c).MakeDirectoryAsync(
                new MakeDirectoryRequest(c.GetArgument<string>("path"), c.GetArgument<bool?>("parents") ?? false, c.GetArgument<int?>("mode")),
                CatalogQuery.S<Caller>(c), c.CancellationToken));
        Field<NonNullGraphType<EntryGraphType>>("changeMode")
            .Description("chmod: the entry's owner, a data manager or an admin.")
            .Argument<NonNullGraphType<StringGraphType>>("path")
            .Argument<NonNullGraphType<IntGraphType>>("mode")
            .Argument<BooleanGraphType>("recursive", "The directory and everything below it (data managers and admins); files get the mode without x.")
            .ResolveAsync(async c => await CatalogQuery.S<NamespaceService>(c).ChangeModeAsync(
                new ChangeModeRequest(c.GetArgument<string>("path"), c.GetArgument<int>("mode"), c.GetArgument("recursive", false)), CatalogQuery.S<Caller>(c), c.CancellationToken));
        Field<NonNullGraphType<EntryGraphType>>("changeOwner")
            .Description("chown: data managers and admins.")
            .Argument<NonNullGraphType<StringGraphType>>("path")
            .Argument<StringGraphType>("owner")
            .Argument<StringGraphType>("group")
            .Argument<BooleanGraphType>("recursive", "The directory and everything below it.")
            .ResolveAsync(async c => await CatalogQuery.S<NamespaceService>(c).ChangeOwnerAsync(
                new ChangeOwnerRequest(c.GetArgument<string>("path"), c.GetArgument<string?>("owner"), c.GetArgument<string?>("group"), c.GetArgument("recursive", false)),
                CatalogQuery.S<Caller>(c), c.CancellationToken));
        Field<NonNullGraphType<EntryGraphType>>("move")
            .Argument<NonNullGraphType<StringGraphType>>("from")
            .Argument<NonNullGraphType<StringGraphType>>("to")
            .ResolveAsync(async c => await CatalogQuery.S<NamespaceService>(c).MoveAsync(
                new MoveRequest(c.GetArgument<string>("from"), c.GetArgument<string>("to")), CatalogQuery.S<Caller>(c), c.CancellationToken));
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<RemoveResultGraphType>>>>("remove")
            .Argument<NonNullGraphType<ListGraphType<NonNullGraphType<StringGraphType>>>>("paths")
            .Argument<BooleanGraphType>("recursive")
            .ResolveAsync(async c => (await CatalogQuery.S<NamespaceService>(c).RemoveAsync(
                new RemoveRequest(c.GetArgument<List<string>>("paths").ToList<string?>(), c.GetArgument<bool?>("recursive") ?? false),
                CatalogQuery.S<Caller>(c), c.CancellationToken)).Results);
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<ReplicaResultGraphType>>>>("addReplicas")
            .Argument<NonNullGraphType<ListGraphType<NonNullGraphType<ReplicaRefInputType>>>>("replicas")
            .ResolveAsync(async c => (await CatalogQuery.S<ReplicaService>(c).AddAsync(
                new AddReplicasRequest(Refs(c)), CatalogQuery.S<Caller>(c), c.CancellationToken)).Results);
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<ReplicaResultGraphType>>>>("removeReplicas")
            .Argument<NonNullGraphType<ListGraphType<NonNullGraphType<ReplicaRefInputType>>>>("replicas")
            .ResolveAsync(async c => (await CatalogQuery.S<ReplicaService>(c).RemoveAsync(
                new RemoveReplicasRequest(Refs(c)), CatalogQuery.S<Caller>(c), c.CancellationToken)).Results);
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<ReplicaResultGraphType>>>>("setReplicaState")
            .Argument<NonNullGraphType<ListGraphType<NonNullGraphType<ReplicaRefInputType>>>>("replicas")
            .ResolveAsync(async c => (await CatalogQuery.S<ReplicaService>(c).SetStateAsync(
                new SetReplicaStateRequest(Refs(c)), CatalogQuery.S<Caller>(c), c.CancellationToken)).Results);
        Field<NonNullGraphType<StorageElementGraphType>>("putStorageElement")
            .Argument<NonNullGraphType<StringGraphType>>("name")
            .Argument<NonNullGraphType<StorageElementInputType>>("input")
            .ResolveAsync(async c => await CatalogQuery.S<StorageElementService>(c).PutAsync(
                c.GetArgument<string>("name"), c.GetArgument<StorageElementSpec>("input"), CatalogQuery.S<Caller>(c), c.CancellationToken));
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<CorrectionResultGraphType>>>>("correctFiles")
            .Description("Sets files' status or corrects a size or checksum, per item, each with an audited reason (data managers).")
            .Argument<NonNullGraphType<ListGraphType<NonNullGraphType<FileCorrectionInputType>>>>("items")
            .ResolveAsync(async c => (await CatalogQuery.S<Files.CorrectionService>(c).CorrectAsync(
                new CorrectionRequest(c.GetArgument<List<FileCorrection>>("items").ToList<FileCorrection?>()), CatalogQuery.S<Caller>(c), c.CancellationToken)).Results);
        Field<NonNullGraphType<StorageElementGraphType>>("renameStorageElement")
            .Description("Renames an SE; every replica stays on it (data managers).")
            .Argument<NonNullGraphType<StringGraphType>>("name")
            .Argument<NonNullGraphType<StringGraphType>>("to")
            .ResolveAsync(async c => await CatalogQuery.S<StorageElementService>(c).RenameAsync(c.GetArgument<string>("name"),
                new RenameRequest(c.GetArgument<string>("to")), CatalogQuery.S<Caller>(c), c.CancellationToken));
        Field<NonNullGraphType<BooleanGraphType>>("deleteStorageElement")
            .Argument<NonNullGraphType<StringGraphType>>("name")
            .ResolveAsync(async c =>
            {
                await CatalogQuery.S<StorageElementService>(c).DeleteAsync(c.GetArgument<string>("name"), CatalogQuery.S<Caller>(c), c.CancellationToken);
                return true;
            });
        DatasetFields.AddMutations(this);
    }

    private static List<ReplicaRef?> Refs(IResolveFieldContext c) => c.GetArgument<List<ReplicaRef>>("replicas").ToList<ReplicaRef?>();
}

internal static class DocumentBudget
{
    /// <summary>
    /// Files registered by one document, across all of its registerFiles fields, within
    /// Catalog:MaxBatchSize: two fields of 6,000 files must not pass a 10,000-file limit.
    /// </summary>
    public static void ChargeBatch(IResolveFieldContext c, int files)
    {
        var limit = CatalogQuery.S<Microsoft.Extensions.Options.IOptions<Hosting.CatalogOptions>>(c).Value.MaxBatchSize;
        var total = (c.UserContext.TryGetValue("files", out var sofar) ? (int)sofar! : 0) + files;
        if (total > limit)
            throw new Errors.CatalogException(ErrorCode.LimitExceeded,
                $"files: at most {limit} per document (Catalog:MaxBatchSize), across its registerFiles fields; this one reaches {total}", "files");
        c.UserContext["files"] = total;
    }
}
