using System.Text.Json;
using Catalog.Contracts;
using Dapper;
using Npgsql;

namespace Catalog.Production.Productions;

public sealed record ProductionRow(long Id, string Name, short Kind, short State, string Owner, string OutputDataset, string Spec, int Jobs, DateTime Created)
{
    public ProductionSpec Definition => JsonSerializer.Deserialize<ProductionSpec>(Spec, CatalogJson.Options)!;
    public ProductionInfo ToInfo() => new(Id, Name, (ProductionState)State, Owner, new DateTimeOffset(Created, TimeSpan.Zero), Jobs, Definition);
}

public static class ProductionStore
{
    private const string Columns = "id, name, kind, state, owner, output_dataset as OutputDataset, spec::text as Spec, jobs, created";

    public static Task<long> InsertAsync(NpgsqlConnection conn, NpgsqlTransaction tx, ProductionSpec spec, string owner, int jobs) =>
        conn.ExecuteScalarAsync<long>("""
            insert into production (name, kind, state, owner, output_dataset, spec, jobs)
            values (@Name, @Kind, @State, @owner, @OutputDataset, @Spec::jsonb, @jobs)
            returning id
            """, new { spec.Name, Kind = (short)spec.Kind!.Value, State = (short)(spec.Hold == true ? ProductionState.Paused : ProductionState.Active), owner, spec.OutputDataset,
                Spec = JsonSerializer.Serialize(spec, CatalogJson.Options), jobs }, tx);

    public static Task<ProductionRow?> GetAsync(NpgsqlConnection conn, string name, NpgsqlTransaction? tx = null) =>
        conn.QuerySingleOrDefaultAsync<ProductionRow>($"select {Columns} from production where name = @name", new { name }, tx);

    public static Task<ProductionRow?> GetAsync(NpgsqlConnection conn, long id, NpgsqlTransaction? tx = null) =>
        conn.QuerySingleOrDefaultAsync<ProductionRow>($"select {Columns} from production where id = @id", new { id }, tx);

    public static Task<ProductionRow?> LockAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string name) =>
        conn.QuerySingleOrDefaultAsync<ProductionRow>($"select {Columns} from production where name = @name for update", new { name }, tx);

    public static async Task<IReadOnlyList<ProductionRow>> ListAsync(NpgsqlConnection conn) =>
        (await conn.QueryAsync<ProductionRow>($"select {Columns} from production order by id")).AsList();

    public static async Task<IReadOnlyList<ProductionRow>> ActiveAsync(NpgsqlConnection conn) =>
        (await conn.QueryAsync<ProductionRow>($"select {Columns} from production where state = @s order by id", new { s = (short)ProductionState.Active })).AsList();

    public static Task<bool> ExistsAsync(NpgsqlConnection conn, string name, string dataset) =>
        conn.ExecuteScalarAsync<bool>("select exists (select 1 from production where name = @name or output_dataset = @dataset)", new { name, dataset });

    public static Task SetStateAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long id, ProductionState state) =>
        conn.ExecuteAsync("update production set state = @s where id = @id", new { id, s = (short)state }, tx);

    public static Task ExtendAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long id, ProductionSpec spec, int jobs) =>
        conn.ExecuteAsync("update production set spec = @Spec::jsonb, jobs = @jobs where id = @id",
            new { id, jobs, Spec = JsonSerializer.Serialize(spec, CatalogJson.Options) }, tx);

    public static async Task<string> ReportKeyAsync(NpgsqlDataSource db)
    {
        await using var conn = await db.OpenConnectionAsync();
        var fresh = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        return await conn.ExecuteScalarAsync<string>("""
            insert into setting (name, value) values ('report_key', @fresh) on conflict (name) do update set value = setting.value returning value
            """, new { fresh }) ?? fresh;
    }
}
