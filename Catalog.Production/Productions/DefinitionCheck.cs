using Catalog.Modules;
using System.Text.RegularExpressions;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Production.Jobs;

namespace Catalog.Production.Productions;

/// <summary>A definition that passed every check, with what the catalog told about it.</summary>
public sealed record CheckedDefinition(ProductionSpec Spec, IReadOnlyList<string> Sites, IReadOnlyList<string> Inputs);

/// <summary>
/// Checks a definition before anything is created: its own rules first (pure), then against the
/// catalog (SEs exist and take writes, the output dataset is free, the attributes the jobs write are
/// declared where they land). Every refusal names the field.
/// </summary>
public sealed partial class DefinitionCheck(CatalogClient catalog, Batch.Slurm slurm)
{
    public const long MaxJobs = 10_000_000;

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[a-z][a-z0-9]{0,15}$")]
    private static partial Regex LevelPattern();

    /// <summary>The definition's own rules; answers it with defaults filled in.</summary>
    public static ProductionSpec Validate(ProductionSpec? spec)
    {
        if (spec is null) throw ServiceException.Invalid("body", "must be a production definition");
        if (string.IsNullOrEmpty(spec.Name)) throw ServiceException.Invalid("name", "is required");
        if (!NamePattern().IsMatch(spec.Name)) throw ServiceException.Invalid("name", "must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit");
        if (spec.Kind is null) throw ServiceException.Invalid("kind", "is required (simulation or processing)");
        if (string.IsNullOrEmpty(spec.OutputDataset)) throw ServiceException.Invalid("outputDataset", "is required");
        if (!spec.OutputDataset.StartsWith("/belle/", StringComparison.Ordinal) || spec.OutputDataset.EndsWith('/') || spec.OutputDataset.Contains("//"))
            throw ServiceException.Invalid("outputDataset", "must be a dataset path under /belle, without a trailing '/'");
        if (string.IsNullOrEmpty(spec.Release)) throw ServiceException.Invalid("release", "is required (the software release the jobs run)");
        if (string.IsNullOrEmpty(spec.GlobalTag)) throw ServiceException.Invalid("globalTag", "is required (the conditions the jobs use)");
        var level = spec.DataLevel ?? "mdst";
        if (!LevelPattern().IsMatch(level)) throw ServiceException.Invalid("dataLevel", "must be a short lower-case word such as mdst or udst");
        if (spec.Experiment is < 0) throw ServiceException.Invalid("experiment", "must not be negative");
        if (spec.RunLow is < 0 || spec.RunHigh is < 0) throw ServiceException.Invalid(spec.RunLow is < 0 ? "runLow" : "runHigh", "must not be negative");
        if (spec.RunLow is { } lo && spec.RunHigh is { } hi && lo > hi) throw ServiceException.Invalid("runHigh", $"must be at least runLow ({lo})");
        if (spec.RunHigh is not null && spec.RunLow is null) throw ServiceException.Invalid("runLow", "is required with runHigh");
        var size = spec.OutputSize ?? 64 * 1024;
        if (size is < 1 or > 1L << 30) throw ServiceException.Invalid("outputSize", "must be 1 byte to 1 GiB");
        if (spec.Sites is { Count: 0 }) throw ServiceException.Invalid("sites", "must name at least one site when given");
        if (spec.Kind == ProductionKind.Simulation)
        {
            if (spec.InputDataset is not null) throw ServiceException.Invalid("inputDataset", "is for processing productions only");
            if (spec.Events is not > 0) throw ServiceException.Invalid("events", "must be a positive number of events");
            if (spec.EventsPerJob is not > 0) throw ServiceException.Invalid("eventsPerJob", "must be a positive number of events");
            if ((spec.Events + spec.EventsPerJob - 1) / spec.EventsPerJob > MaxJobs)
                throw ServiceException.Invalid("eventsPerJob", $"makes more than {MaxJobs:N0} jobs; raise it or split the production");
        }
        else
        {
            if (string.IsNullOrEmpty(spec.InputDataset)) throw ServiceException.Invalid("inputDataset", "is required for a processing production");
            if (spec.FilesPerJob is not > 0) throw ServiceException.Invalid("filesPerJob", "must be a positive number of files");
            if (spec.Events is not null || spec.EventsPerJob is not null)
                throw ServiceException.Invalid(spec.Events is not null ? "events" : "eventsPerJob", "is for simulation productions only (processing takes its inputs' events)");
        }
        return spec with { DataLevel = level, OutputSize = size };
    }

    /// <summary>The catalog's side: SEs, the output dataset, the schema in force, the inputs.</summary>
    public async Task<CheckedDefinition> CheckAsync(ProductionSpec spec, CancellationToken ct)
    {
        var ses = await catalog.ListStorageElementsAsync(ct);
        var writable = ses.Where(Writable).ToList();
        // A site is where Slurm can run a job: a partition of that name.
        var partitions = await slurm.PartitionsAsync(ct);
        if (spec.Sites?.FirstOrDefault(s => !partitions.Contains(s ?? "")) is { } nowhere)
            throw ServiceException.Invalid("sites", $"site {nowhere} has no Slurm partition; jobs run at {string.Join(", ", partitions.Order(StringComparer.Ordinal))}");
        IReadOnlyList<string> sites;
        if (spec.DestinationSe is { } dest)
        {
            var se = ses.FirstOrDefault(s => s.Name == dest) ?? throw ServiceException.Invalid("destinationSe", $"names no SE in the catalog ({dest})");
            if (!writable.Contains(se)) throw ServiceException.Invalid("destinationSe", $"{dest} does not take writes from jobs now (write-disabled, not online, or not an XRootD root:// SE)");
            sites = spec.Sites ?? partitions.Order(StringComparer.Ordinal).ToList();
        }
        else
        {
            var withSe = writable.Select(s => s.Site).ToHashSet();
            if (spec.Sites is { } wanted)
            {
                if (wanted.FirstOrDefault(s => !withSe.Contains(s ?? "")) is { } missing)
                    throw ServiceException.Invalid("sites", $"site {missing} has no writable SE in the catalog; its jobs would have nowhere to write");
                sites = wanted.Distinct().ToList();
            }
            else sites = withSe.Where(partitions.Contains).Order(StringComparer.Ordinal).ToList();
            if (sites.Count == 0) throw ServiceException.Invalid("destinationSe", "is needed: no site has a writable SE in the catalog");
        }

        try
        {
            var summary = await catalog.GetDatasetSummaryAsync(spec.OutputDataset!, ct);
            if (summary.Files > 0) throw ServiceException.Conflict("outputDataset", $"{spec.OutputDataset} already holds {summary.Files} files; a production writes a dataset of its own");
        }
        catch (CatalogNotFoundException) { }

        await CheckSchemaAsync(spec.OutputDataset!, ct);

        IReadOnlyList<string> inputs = [];
        if (spec.Kind == ProductionKind.Processing)
        {
            try { inputs = await ListFilesAsync(catalog, spec.InputDataset!, ct); }
            catch (CatalogNotFoundException) { throw ServiceException.Invalid("inputDataset", $"{spec.InputDataset} does not exist in the catalog"); }
            if (inputs.Count == 0) throw ServiceException.Invalid("inputDataset", $"{spec.InputDataset} holds no files");
        }
        return new CheckedDefinition(spec with { Sites = sites }, sites, inputs);
    }

    /// <summary>An SE the jobs can write to now: online, write-enabled, and reached with xrdcp (root://).</summary>
    public static bool Writable(StorageElement se) => se.WriteEnabled && se.State == StorageElementState.Online && se.Protocol == "root";

    /// <summary>The attributes the jobs write must be declared (with their type) where the output lands, unless the subtree is permissive.</summary>
    private async Task CheckSchemaAsync(string dataset, CancellationToken ct)
    {
        SchemaInForce? schema = null;
        for (var path = dataset; schema is null && path.Length > 1; path = path[..Math.Max(1, path.LastIndexOf('/'))])
        {
            try { schema = await catalog.GetSchemaAsync(path, ct); }
            catch (CatalogNotFoundException) { }
        }
        if (schema is null || schema.Permissive) return;
        var declared = schema.Attributes.ToDictionary(a => a.Name, a => a.Type);
        foreach (var (name, type) in OutputFile.Attributes)
        {
            if (!declared.TryGetValue(name, out var t))
                throw ServiceException.Invalid("outputDataset", $"the jobs write attribute '{name}', which is not declared over {dataset} (declare it, or run 'Catalog.Production setup {schema.Path}')");
            if (t != type)
                throw ServiceException.Invalid("outputDataset", $"attribute '{name}' is declared {t.ToString().ToLowerInvariant()} over {dataset}; the jobs write it as {type.ToString().ToLowerInvariant()}");
        }
    }

    /// <summary>Every file LFN of a dataset (its datablocks, or files directly in it).</summary>
    public static async Task<IReadOnlyList<string>> ListFilesAsync(CatalogClient catalog, string dataset, CancellationToken ct)
    {
        var files = new List<string>();
        await foreach (var entry in catalog.ListAsync(dataset, ct: ct))
        {
            if (entry.Type == EntryType.Directory)
                await foreach (var inner in catalog.ListAsync(entry.Path, ct: ct))
                {
                    if (inner.Type == EntryType.File) files.Add(inner.Path);
                }
            else files.Add(entry.Path);
        }
        return files;
    }
}
