using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Catalog.Modules;

/// <summary>
/// Applies a module's numbered schema files (embedded as schema/NNN_name.sql in <paramref name="schemaAssembly"/>)
/// to the module's own database, creating the database first when the cluster lacks it (same
/// cluster as the catalog, own database). One migrator at a time per database (an advisory lock).
/// </summary>
public sealed class ModuleMigrator(NpgsqlDataSource dataSource, System.Reflection.Assembly schemaAssembly, string module, ILogger<ModuleMigrator> logger)
{
    private const long LockId = 0x6d6f64756c65; // "module"

    public async Task MigrateAsync(CancellationToken ct = default)
    {
        await EnsureDatabaseAsync(dataSource.ConnectionString, ct);
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await conn.ExecuteAsync("select pg_advisory_lock(@LockId)", new { LockId });
        try
        {
            await conn.ExecuteAsync("create table if not exists schema_migration (version integer primary key, name text not null, applied timestamptz not null default now())");
            var applied = (await conn.QueryAsync<int>("select version from schema_migration")).ToHashSet();
            foreach (var (version, name, sql) in Scripts().Where(s => !applied.Contains(s.Version)))
            {
                await using var tx = await conn.BeginTransactionAsync(ct);
                await conn.ExecuteAsync(sql, transaction: tx);
                await conn.ExecuteAsync("insert into schema_migration (version, name) values (@version, @name)", new { version, name }, tx);
                await tx.CommitAsync(ct);
                logger.LogInformation("Applied {Module} migration {Version} {Name}", module, version, name);
            }
        }
        finally
        {
            await conn.ExecuteAsync("select pg_advisory_unlock(@LockId)", new { LockId });
        }
    }

    private static async Task EnsureDatabaseAsync(string connectionString, CancellationToken ct)
    {
        var target = new NpgsqlConnectionStringBuilder(connectionString);
        var admin = new NpgsqlConnectionStringBuilder(connectionString) { Database = "postgres", Pooling = false };
        await using var conn = new NpgsqlConnection(admin.ConnectionString);
        await conn.OpenAsync(ct);
        if (await conn.ExecuteScalarAsync<int?>("select 1 from pg_database where datname = @name", new { name = target.Database }) is null)
        {
            try { await conn.ExecuteAsync($"create database \"{target.Database!.Replace("\"", "\"\"")}\""); }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DuplicateDatabase) { }
        }
    }

    private IEnumerable<(int Version, string Name, string Sql)> Scripts()
    {
        var assembly = schemaAssembly;
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith("schema/", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            var file = resource["schema/".Length..];
            using var reader = new StreamReader(assembly.GetManifestResourceStream(resource)!);
            yield return (int.Parse(file[..3]), Path.GetFileNameWithoutExtension(file)[4..], reader.ReadToEnd());
        }
    }
}
