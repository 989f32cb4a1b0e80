using Dapper;
using Npgsql;

namespace Catalog.Tests.Infrastructure;

/// <summary>
/// A bulk metadata write of 10,000 files took 26 s instead of 0.2 s on a pooled connection that had
/// served one-row updates before (and timed out under load in CI): statement-level update triggers
/// joined their old and new rows with a plan PL/pgSQL had cached for one row. Schema 012 made the
/// file and directory update triggers row-level, restricted to the columns they read, and has the
/// replica one plan per statement. This guards those shapes; the time itself is measured by
/// <c>Catalog.LoadTests bulkupdate</c> (docs/BENCHMARKS.md).
/// </summary>
[Collection(CatalogCollection.Name)]
public class UpdateTriggerTests(CatalogFixture fx)
{
    private const int Update = 16, Row = 1;

    [Fact]
    public async Task Updates_of_files_and_directories_call_no_trigger_unless_they_move_rename_or_resize()
    {
        await using var conn = new NpgsqlConnection(fx.PostgresConnectionString);
        var triggers = (await conn.QueryAsync<(string Table, string Name, int Type, bool Transition, bool Columns, bool When)>("""
            select tgrelid::regclass::text, tgname, tgtype::int, tgnewtable is not null or tgoldtable is not null,
                   array_length(tgattr::int2[], 1) is not null, tgqual is not null
            from pg_trigger where not tgisinternal and tgrelid in ('file'::regclass, 'directory'::regclass)
            """)).Where(t => (t.Type & Update) != 0).ToList();

        Assert.NotEmpty(triggers);
        Assert.All(triggers, t =>
        {
            Assert.False(t.Transition, $"{t.Table}.{t.Name} captures every updated row");
            Assert.True((t.Type & Row) != 0 && t.Columns && t.When, $"{t.Table}.{t.Name} runs for updates that change none of its columns");
        });
    }

    [Fact]
    public async Task Statement_triggers_that_join_a_statements_old_and_new_rows_plan_them_per_statement()
    {
        await using var conn = new NpgsqlConnection(fx.PostgresConnectionString);
        var functions = (await conn.QueryAsync<(string Trigger, string Source)>("""
            select t.tgrelid::regclass::text || '.' || t.tgname, p.prosrc
            from pg_trigger t join pg_proc p on p.oid = t.tgfoid
            where not t.tgisinternal and t.tgnewtable is not null and t.tgoldtable is not null
            """)).ToList();

        Assert.NotEmpty(functions);
        Assert.All(functions, f => Assert.True(ExecutesEveryJoin(f.Source),
            $"{f.Trigger} joins old_rows and new_rows in static SQL, whose plan PL/pgSQL keeps for the connection"));
    }

    /// <summary>Whether every statement of the function that names both old_rows and new_rows is run by EXECUTE.</summary>
    private static bool ExecutesEveryJoin(string source) =>
        source.Split(';').Where(s => s.Contains("old_rows", StringComparison.Ordinal) && s.Contains("new_rows", StringComparison.Ordinal))
            .All(s => s.Contains("execute", StringComparison.OrdinalIgnoreCase));
}
