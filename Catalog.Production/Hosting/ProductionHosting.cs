using Catalog.Client;
using Catalog.Contracts;
using Catalog.Modules;
using Catalog.Production.Batch;
using Catalog.Production.Productions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Catalog.Production.Hosting;

public static class ProductionHosting
{
    /// <summary>Options, the production database, the catalog client, the stores, services and workers.</summary>
    public static WebApplicationBuilder AddProduction(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<ProductionOptions>().BindConfiguration(ProductionOptions.Section)
            .Validate(o => o.SliceSize is > 0 and <= 1000, "Production:SliceSize must be 1-1000 (Slurm's MaxArraySize)")
            .Validate(o => o.SiteCap > 0, "Production:SiteCap must be positive")
            .ValidateOnStart();
        builder.Services.ConfigureHttpJsonOptions(o => CatalogJson.Configure(o.SerializerOptions));
        var connection = builder.Configuration.GetConnectionString("Production")
            ?? throw new InvalidOperationException("ConnectionStrings:Production is required (the production service's own database)");
        builder.Services.AddSingleton(_ => new NpgsqlDataSourceBuilder(connection) { Name = "production" }.Build());
        builder.Services.AddSingleton(sp => new ModuleMigrator(sp.GetRequiredService<NpgsqlDataSource>(), typeof(ProductionHosting).Assembly, "production",
            sp.GetRequiredService<ILogger<ModuleMigrator>>()));
        builder.Services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<ProductionOptions>>().Value;
            return CatalogClient.Create(new CatalogClientOptions { BaseAddress = o.CatalogUrl, Token = ModuleToken.Resolve(o.CatalogToken, o.CatalogTokenFile, ProductionOptions.Section), MaxRetries = 3 });
        });
        builder.Services.AddSingleton(sp => new Faults(sp.GetRequiredService<IOptions<ProductionOptions>>().Value.Fault));
        builder.Services.AddSingleton<Slurm>();
        builder.Services.AddSingleton(sp => new CallerIdentity(sp.GetRequiredService<IOptions<ProductionOptions>>().Value.CatalogUrl));
        builder.Services.AddSingleton<ProductionService>();
        builder.Services.AddSingleton<DefinitionCheck>();
        builder.Services.AddSingleton<Recovery>();
        builder.Services.AddSingleton<Submitter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Submitter>());
        builder.Services.AddHostedService<Watcher>();
        builder.Services.AddModuleOpenApi();
        return builder;
    }
}
