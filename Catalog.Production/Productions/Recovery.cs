using Catalog.Modules;
using Catalog.Client;
using Catalog.Contracts;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Catalog.Production.Productions;

/// <summary>
/// Recovery with the catalog as the truth: the dataset's files are listed once, and only jobs whose
/// output the catalog lacks are planned again (a recovery that re-made thousands of jobs to recover
/// tens, WMCore #6187, cannot happen: a job whose output is registered is marked done instead).
/// </summary>
public sealed class Recovery(NpgsqlDataSource db, CatalogClient catalog, IOptions<ProductionOptions> options)
{
    public async Task<RecoverResponse> RecoverAsync(string name, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var p = await ProductionStore.GetAsync(conn, name) ?? throw ServiceException.NotFound($"production {name}");
        if ((ProductionState)p.State == ProductionState.Killed) throw ServiceException.Conflict("state", $"production {name} was killed");
        var spec = p.Definition;
        var inCatalog = (await DefinitionCheck.ListFilesAsync(catalog, spec.OutputDataset!, ct))
            .Select(lfn => lfn[(lfn.LastIndexOf('/') + 1)..]).ToHashSet(StringComparer.Ordinal);
        var found = new List<int>();
        var again = new List<int>();
        var lost = new List<int>();
        var overLimit = 0;
        foreach (var (idx, state, attempts) in await JobStore.StatesAsync(conn, p.Id))
        {
            var has = inCatalog.Contains(Planner.OutputName(p.Name, spec.DataLevel ?? "mdst", idx));
            switch ((JobState)state)
            {
                case JobState.Failed or JobState.Planned when has: found.Add(idx); break;
                case JobState.Registered when !has: lost.Add(idx); break;
                case JobState.Failed when attempts < options.Value.MaxAttempts: again.Add(idx); break;
                case JobState.Failed: overLimit++; break;
            }
        }
        await using var tx = await conn.BeginTransactionAsync(ct);
        var marked = await JobStore.MoveManyAsync(conn, tx, p.Id, found.ToArray(), JobState.Registered);
        var planned = await JobStore.MoveManyAsync(conn, tx, p.Id, again.ToArray(), JobState.Planned)
            + await JobStore.ReplanLostAsync(conn, tx, p.Id, lost.ToArray());
        if (planned > 0 && (ProductionState)p.State == ProductionState.Done) await ProductionStore.SetStateAsync(conn, tx, p.Id, ProductionState.Active);
        await tx.CommitAsync(ct);
        return new RecoverResponse(marked, planned, overLimit);
    }
}
