using Catalog.Client;
using Catalog.Contracts;
using Catalog.Modules;
using Catalog.Transfer.Queue;
using Dapper;
using Npgsql;

namespace Catalog.Transfer.Rules;

/// <summary>Rules: checked against the catalog before anything is stored, evaluated at once, removed with what only they held.</summary>
public sealed class RuleService(NpgsqlDataSource db, CatalogClient catalog, Evaluator evaluator, Conveyor conveyor, ILogger<RuleService> log)
{
    /// <summary>The path a rule concerns (what the caller needs a modify scope over), for the permission check before anything else.</summary>
    public static string PathOf(RuleSpec? spec) => spec?.Dataset ?? spec?.Collection ?? spec?.Prefix ?? spec?.Under ?? "/";

    public async Task<RuleInfo> CreateAsync(RuleSpec? spec, string account, CancellationToken ct)
    {
        if (spec is null) throw ServiceException.Invalid("body", "is required: a rule needs one of dataset, collection, prefix or query, copies and seExpression");
        var selectors = new (string Field, string? Value, SelectorKind Kind)[]
        {
            ("dataset", spec.Dataset, SelectorKind.Dataset), ("collection", spec.Collection, SelectorKind.Collection),
            ("prefix", spec.Prefix, SelectorKind.Prefix), ("query", spec.Query, SelectorKind.Query),
        }.Where(s => !string.IsNullOrWhiteSpace(s.Value)).ToList();
        if (selectors.Count == 0) throw ServiceException.Invalid("dataset", "or collection, prefix or query is required: a rule over nothing replicates nothing");
        if (selectors.Count > 1) throw ServiceException.Invalid(selectors[1].Field, $"cannot be given with {selectors[0].Field}: a rule covers one set of files");
        var (field, selector, kind) = selectors[0];
        if (kind != SelectorKind.Query && (!selector!.StartsWith('/') || selector.Length < 2 || selector.EndsWith('/')))
            throw ServiceException.Invalid(field, "must be an absolute path like /belle/MC/..., without a trailing '/'");
        if (spec.Under is not null && kind != SelectorKind.Query) throw ServiceException.Invalid("under", "goes with query only");
        if (spec.Copies is not { } copies || copies < 1) throw ServiceException.Invalid("copies", "must be at least 1");
        if (spec.LifetimeSeconds is <= 0) throw ServiceException.Invalid("lifetimeSeconds", "must be positive: a rule cannot expire in the past (omit it for no expiry)");
        var priority = spec.Priority ?? 3;
        if (priority is < 1 or > 5) throw ServiceException.Invalid("priority", "must be 1 (lowest) to 5 (highest)");
        if (spec.Comment is { Length: > 500 }) throw ServiceException.Invalid("comment", "must be at most 500 characters");

        var ses = await catalog.ListStorageElementsAsync(ct);
        string[] targets;
        try { targets = SeExpression.Evaluate(spec.SeExpression, ses).Order(StringComparer.Ordinal).ToArray(); }
        catch (SeExpressionException e) { throw new ServiceException(ErrorCode.InvalidArgument, e.Message, e.Field); }
        if (targets.Length == 0) throw ServiceException.Invalid("seExpression", $"'{spec.SeExpression}' matches no SE");
        if (copies > targets.Length)
            throw ServiceException.Invalid("copies", $"is {copies}, but '{spec.SeExpression}' matches only {targets.Length} SE(s): {string.Join(", ", targets)}");

        string[]? members = null;
        try
        {
            switch (kind)
            {
                case SelectorKind.Dataset: await catalog.GetDatasetSummaryAsync(selector!, ct); break;
                case SelectorKind.Collection: members = (await catalog.GetCollectionAsync(selector!, ct)).Members.ToArray(); break;
                case SelectorKind.Prefix:
                    if ((await catalog.StatAsync(selector!, ct)).Type != EntryType.Directory) throw ServiceException.Invalid("prefix", $"'{selector}' is a file, not a directory");
                    break;
                case SelectorKind.Query: await catalog.QueryAsync(new QueryRequest(selector, spec.Under ?? "/", Limit: 1), ct); break;
            }
        }
        catch (CatalogNotFoundException) { throw ServiceException.Invalid(field, $"'{selector}' does not exist in the catalog"); }
        catch (CatalogValidationException e) { throw ServiceException.Invalid(field, $"was refused by the catalog: {e.Message}"); }

        var row = new RuleRow
        {
            Account = account, SelectorKind = (short)kind, Selector = selector!.Trim(), Under = spec.Under, Members = members,
            Copies = (short)copies, SeExpression = spec.SeExpression!, Targets = targets, Priority = (short)priority,
            State = (short)RuleState.Replicating, Comment = spec.Comment,
            ExpiresAt = spec.LifetimeSeconds is { } l ? DateTime.UtcNow.AddSeconds(l) : null, Created = DateTime.UtcNow,
        };
        long id;
        await using (var conn = await db.OpenConnectionAsync(ct)) id = await RuleStore.InsertAsync(conn, row, ct);
        row = row with { Id = id };
        await evaluator.EvaluateAsync(row, ct);
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            await conn.ExecuteAsync(new CommandDefinition("update rule set evaluated = true where id = @id", new { id }, cancellationToken: ct));
            await RuleStore.RefreshStatesAsync(conn, null, [id], ct);
        }
        conveyor.Wake();
        return await GetAsync(id, ct);
    }

    public async Task<RuleInfo> GetAsync(long id, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rule = await RuleStore.GetAsync(conn, id, ct) ?? throw ServiceException.NotFound($"rule {id}");
        var counts = await RuleStore.CountsAsync(conn, [id], ct);
        return ToInfo(rule, counts.GetValueOrDefault(id));
    }

    /// <summary>The path a stored rule concerns (its dataset, collection, prefix, or the query's scope).</summary>
    public async Task<string> PathOfAsync(long id, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await RuleStore.GetAsync(conn, id, ct) ?? throw ServiceException.NotFound($"rule {id}")).Path;
    }

    public async Task<RuleDetail> DetailAsync(long id, CancellationToken ct)
    {
        var info = await GetAsync(id, ct);
        await using var conn = await db.OpenConnectionAsync(ct);
        var (stuck, reasons) = await RuleStore.StuckAsync(conn, id, 100, ct);
        return new RuleDetail(info, stuck, reasons);
    }

    public async Task<IReadOnlyList<RuleInfo>> ListAsync(string? account, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rules = await RuleStore.ListAsync(conn, account, ct);
        var counts = await RuleStore.CountsAsync(conn, rules.Select(r => r.Id).ToArray(), ct);
        return rules.Select(r => ToInfo(r, counts.GetValueOrDefault(r.Id))).ToList();
    }

    public async Task<RuleInfo> SuspendAsync(long id, bool suspend, CancellationToken ct)
    {
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            if (await RuleStore.SetSuspendedAsync(conn, id, suspend, ct) == 0) throw ServiceException.NotFound($"rule {id}");
            if (!suspend) await RuleStore.RefreshStatesAsync(conn, null, [id], ct);
        }
        conveyor.Wake();
        return await GetAsync(id, ct);
    }

    /// <summary>
    /// Removes a rule: its locks go, requests no other rule needs are canceled, and replicas it
    /// locked that no other rule holds are queued for deletion (the reaper never deletes a file's
    /// last replica). One transaction, under the lock that rule evaluation takes too.
    /// </summary>
    public async Task<RuleInfo> RemoveAsync(long id, string why, CancellationToken ct)
    {
        var info = await GetAsync(id, ct);
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("select pg_advisory_xact_lock(@id)", new { id = Evaluator.LocksLockId }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition("""
            create temp table gone_lock on commit drop as select file_id, se, state from lock where rule_id = @id;
            delete from lock where rule_id = @id;
            update transfer t set state = 4, reason = 'no rule needs this replica any more', updated = now()
            from gone_lock g
            where t.file_id = g.file_id and t.destination = g.se and t.state in (0, 3)
              and not exists (select 1 from lock l where l.file_id = g.file_id and l.se = g.se);
            insert into deletion (file_id, se)
            select distinct g.file_id, g.se from gone_lock g
            where g.state = 0 and not exists (select 1 from lock l where l.file_id = g.file_id and l.se = g.se)
            order by 1, 2
            on conflict do nothing;
            delete from rule where id = @id;
            """, new { id }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        log.LogInformation("Rule {Rule} removed ({Why})", id, why);
        return info;
    }

    private static RuleInfo ToInfo(RuleRow r, (long Files, long Ok, long Replicating, long Stuck) c) => new(
        r.Id, r.Account, r.Selector, r.KindName, r.Copies, r.SeExpression, r.Priority, (RuleState)r.State, r.Reason,
        new DateTimeOffset(DateTime.SpecifyKind(r.Created, DateTimeKind.Utc)),
        r.ExpiresAt is { } e ? new DateTimeOffset(DateTime.SpecifyKind(e, DateTimeKind.Utc)) : null,
        c.Files, c.Ok, c.Replicating, c.Stuck, r.Comment, r.Targets);
}
