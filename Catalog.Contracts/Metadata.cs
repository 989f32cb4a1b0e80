using System.Text.Json.Nodes;

namespace Catalog.Contracts;

/// <summary>The type of an attribute's values.</summary>
public enum AttributeType { Integer, Float, String, Boolean, Timestamp }

/// <summary>What carries an attribute: files, or directories (datasets, collections) and everything below them.</summary>
public enum AttributeTarget { Files, Directories }

/// <summary>Declares an attribute on a directory; it applies to the whole subtree.</summary>
/// <param name="Path">The directory (an AMGA collection, a dataset, or a root for all of it).</param>
/// <param name="Name">Letters, digits and '_', starting with a letter; unique along a path.</param>
/// <param name="Allowed">If given, the only values allowed.</param>
/// <param name="Indexed">Build an index so range and equality queries on it use it.</param>
/// <param name="Pattern">For strings: a regular expression (.NET syntax) every value must match in full, e.g. <c>release-\d{2}-\d{2}-\d{2}</c>.</param>
public sealed record AttributeSpec(string? Path, string? Name, AttributeType? Type, AttributeTarget? Target = AttributeTarget.Files,
    IReadOnlyList<JsonNode?>? Allowed = null, bool Indexed = false, string? Pattern = null);

/// <summary>Adds values to the allowed list of a declaration made at <see cref="Path"/>; values already allowed are fine.</summary>
public sealed record AllowedValuesRequest(string? Path, string? Name, IReadOnlyList<JsonNode?>? Allowed);

/// <summary>A declared attribute, with the directory that declares it.</summary>
public sealed record AttributeDefinition(string Name, AttributeType Type, AttributeTarget Target, string DefinedAt,
    IReadOnlyList<JsonNode?>? Allowed, bool Indexed, string? Pattern = null);

/// <summary>The schema in force at a path: every attribute declared on it or an ancestor.</summary>
public sealed record SchemaInForce(string Path, bool Permissive, string? PolicySetAt, IReadOnlyList<AttributeDefinition> Attributes);

/// <summary>Lets a directory's subtree carry undeclared attributes (or not).</summary>
public sealed record PolicyRequest(string? Path, bool Permissive);

/// <summary>Values to set on one file or directory; a null value removes the attribute.</summary>
public sealed record MetadataWrite(string? Path, JsonObject? Values);

public sealed record MetadataWriteRequest(IReadOnlyList<MetadataWrite?>? Items);

public sealed record MetadataReadRequest(IReadOnlyList<string?>? Paths);

/// <summary>One item of a bulk metadata write or read.</summary>
/// <param name="Own">The values set on the entry itself.</param>
/// <param name="Effective">Its own values plus those its directories carry.</param>
public sealed record MetadataResult(int Index, string? Path, bool Ok, JsonObject? Own = null, JsonObject? Effective = null, ItemError? Error = null);

public sealed record MetadataResponse(IReadOnlyList<MetadataResult> Results);

/// <summary>What a query runs over.</summary>
public enum QueryTarget { Files, Datasets }

/// <summary>
/// A metadata query: a condition in the catalog's query language (docs/QUERY.md) and/or typed
/// <paramref name="Filters"/> (and-ed with it) over files or datasets under a path, the
/// attributes to return (AMGA's selectattr), and a cursor.
/// </summary>
public sealed record QueryRequest(string? Query, string? Under = null, QueryTarget Target = QueryTarget.Files,
    IReadOnlyList<string>? Attributes = null, string? After = null, int? Limit = null, IReadOnlyList<Filter>? Filters = null);

/// <summary>How a typed filter compares.</summary>
public enum FilterOp
{
    /// <summary>Equal (<c>=</c>).</summary>
    Eq,
    /// <summary>Not equal (<c>!=</c>).</summary>
    Ne,
    /// <summary>Less than.</summary>
    Lt,
    /// <summary>Less than or equal.</summary>
    Le,
    /// <summary>Greater than.</summary>
    Gt,
    /// <summary>Greater than or equal.</summary>
    Ge,
    /// <summary>Between two values, inclusive.</summary>
    Between,
    /// <summary>One of a list of values.</summary>
    In,
    /// <summary>None of a list of values.</summary>
    NotIn,
    /// <summary>Matches a <c>*</c>/<c>?</c> pattern.</summary>
    Like,
    /// <summary>Does not match a <c>*</c>/<c>?</c> pattern.</summary>
    NotLike,
    /// <summary>The attribute is set.</summary>
    Exists,
    /// <summary>The attribute is not set.</summary>
    Missing,
}

/// <summary>One value of a typed filter: exactly one of string, number or boolean.</summary>
public sealed record FilterValue(string? String, decimal? Number, bool? Boolean);

/// <summary>One condition on one attribute, with the query language's semantics; the filters of a query are and-ed.</summary>
public sealed record Filter(string Attribute, FilterOp Op, FilterValue? Value, IReadOnlyList<FilterValue>? Values);

/// <summary>One match: its LFN (or LPN) and the attributes asked for.</summary>
public sealed record QueryRow(string Path, JsonObject? Attributes);

public sealed record QueryPage(IReadOnlyList<QueryRow> Rows, string? Next);

/// <summary>
/// One match of a query with what replication needs of it, typed: the built-ins <c>size</c>,
/// <c>adler32</c> and <c>replicas</c> (every replica's SE with its state) as the stream carries them.
/// </summary>
public sealed record FileReplicasRow(string Path, FileReplicasAttributes Attributes);

/// <summary>A file's size, Adler-32 and replicas (SE name to state) in a <see cref="FileReplicasRow"/>.</summary>
public sealed record FileReplicasAttributes(long Size, string Adler32, IReadOnlyDictionary<string, ReplicaState> Replicas);

/// <summary>Distinct values with counts of chosen attributes over a query's matches.</summary>
public sealed record FacetRequest(string? Query, string? Under, IReadOnlyList<string>? Attributes, QueryTarget Target = QueryTarget.Files, int? Limit = null);

public sealed record FacetValue(JsonNode? Value, long Count);

public sealed record Facet(string Attribute, IReadOnlyList<FacetValue> Values);

public sealed record FacetResponse(long Total, IReadOnlyList<Facet> Facets);

/// <summary>Marks a directory as a dataset (LPN), creating it if needed, with its own metadata.</summary>
public sealed record DatasetRequest(string? Path, JsonObject? Metadata = null, int? MaxFilesPerBlock = null);

/// <param name="Files">Its length in files (in lists).</param>
/// <param name="Created">When it was made a dataset's directory (in lists).</param>
/// <param name="State">Open (files may be added) or closed (no more files; it may go into collections).</param>
/// <param name="Expires">The end of its lifetime, after which it is flagged for deletion; null: no end.</param>
public sealed record DatasetInfo(string Path, int MaxFilesPerBlock, int CurrentBlock, JsonObject? Metadata, long? Files = null, DateTimeOffset? Created = null,
    DatasetState State = DatasetState.Open, DateTimeOffset? Expires = null);

/// <summary>Open: files may be registered into it. Closed: no more files; only closed datasets go into collections.</summary>
public enum DatasetState { Open, Closed }

/// <summary>A dataset to close or reopen.</summary>
public sealed record DatasetPathRequest(string? Path);

/// <summary>A dataset's lifetime: it is flagged for deletion after <see cref="Expires"/> (null: no end).</summary>
public sealed record DatasetLifetimeRequest(string? Path, DateTimeOffset? Expires);

/// <summary>A dataset at a glance.</summary>
public sealed record DatasetSummary(string Path, long Files, long Bytes, long? Events, long? ExperimentLow, long? ExperimentHigh,
    long? RunLow, long? RunHigh, int Datablocks, IReadOnlyList<SeUsage> PerStorageElement, JsonObject? Metadata);

/// <summary>Creates a frozen collection of datasets (or other collections), whole or not at all.</summary>
public sealed record CollectionRequest(string? Path, IReadOnlyList<string?>? Members, JsonObject? Metadata = null);

public sealed record CollectionInfo(string Path, IReadOnlyList<string> Members, JsonObject? Metadata, DateTimeOffset Created);

/// <summary>
/// A collection at a glance: the totals of the datasets it holds (through nested collections), as a
/// dataset summary has them; datasets the caller may not see are left out, and counted in none.
/// </summary>
public sealed record CollectionSummary(string Path, int Datasets, long Files, long Bytes, long? Events, long? ExperimentLow, long? ExperimentHigh,
    long? RunLow, long? RunHigh, int Datablocks, IReadOnlyList<SeUsage> PerStorageElement, JsonObject? Metadata);

public enum LineageDirection { Ancestors, Descendants }

public sealed record LineageEdge(string Child, string Parent, int Depth);

public sealed record LineageResponse(string Lfn, LineageDirection Direction, int Depth, IReadOnlyList<LineageEdge> Edges);
