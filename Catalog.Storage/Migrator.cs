using System.Reflection;
using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Catalog.Storage;

/// <summary>
/// Applies the numbered, forward-only SQL files of <c>schema/</c> (embedded in this assembly)
/// in order, each in its own transaction, under an advisory lock so two servers starting at
/// once cannot both apply one.
/// </summary>
public sealed class Migrator(NpgsqlDataSource dataSource, ILogger<Migrator> logger)
{
    private const long LockId = 0x636174616c6f67; // "catalog"

    public static IReadOnlyList<(int Version, string Name, string Sql)> Scripts { get; } = LoadScripts();

    public async Task<int> MigrateAsync(IReadOnlyList<string> roots, CancellationToken ct = default)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await conn.ExecuteAsync("select pg_advisory_lock(@LockId)", new { LockId });
        try
        {
            await conn.ExecuteAsync("""
                create table if not exists schema_migration (
                    version integer primary key,
                    name text not null,
                    applied timestamptz not null default now())
                """);
            var applied = (await conn.QueryAsync<int>("select version from schema_migration")).ToHashSet();
            var count = 0;
            foreach (var (version, name, sql) in Scripts.Where(s => !applied.Contains(s.Version)))
            {
                await using var tx = await conn.BeginTransactionAsync(ct);
                await conn.ExecuteAsync(sql, transaction: tx);
                await conn.ExecuteAsync("insert into schema_migration (version, name) values (@version, @name)",
                    new { version, name }, tx);
                await tx.CommitAsync(ct);
                logger.LogInformation("Applied migration {Version} {Name}", version, name);
                count++;
            }
            await EnsureRootsAsync(conn, roots);
            return count;
        }
        finally
        {
            await conn.ExecuteAsync("select pg_advisory_unlock(@LockId)", new { LockId });
        }
    }

    private static async Task EnsureRootsAsync(NpgsqlConnection conn, IReadOnlyList<string> roots)
    {
        const string sql = """
            insert into directory (parent_id, name, path, owner, grp, mode)
            select null, r.name, r.path, 'root', 'root', 493
            from unnest(@names::text[], @paths::text[]) as r(name, path)
            on conflict do nothing
            """;
        await conn.ExecuteAsync(sql, new
        {
            names = roots.Select(r => r[(r.LastIndexOf('/') + 1)..]).ToArray(),
            paths = roots.ToArray(),
        });
    }

    private static List<(int, string, string)> LoadScripts()
    {
        var assembly = typeof(Migrator).Assembly;
        return assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith("schema/", StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
            .Select(n =>
            {
                var file = n["schema/".Length..];
                var version = int.Parse(file[..file.IndexOf('_')]);
                using var reader = new StreamReader(assembly.GetManifestResourceStream(n)!);
                return (version, file, reader.ReadToEnd());
            })
            .OrderBy(s => s.version)
            .ToList();
    }
}
