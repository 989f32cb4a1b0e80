using Catalog.Storage;
using Microsoft.Extensions.Options;

namespace Catalog.Api.Hosting;

public static class Migrations
{
    /// <summary>The explicit migrate command: applies schema/ and creates the configured roots.</summary>
    public static async Task MigrateAsync(this WebApplication app)
    {
        var roots = app.Services.GetRequiredService<IOptions<CatalogOptions>>().Value.Roots;
        var applied = await app.Services.GetRequiredService<Migrator>().MigrateAsync(roots);
        app.Logger.LogInformation("Migrations applied: {Count}; roots: {Roots}", applied, string.Join(", ", roots));
    }

    public static async Task MigrateOnStartAsync(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<StorageOptions>>().Value.MigrateOnStart)
            await app.MigrateAsync();
    }
}
