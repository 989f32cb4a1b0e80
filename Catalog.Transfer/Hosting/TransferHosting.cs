using Catalog.Client;
using Catalog.Contracts;
using Catalog.Modules;
using Catalog.Transfer.Consistency;
using Catalog.Transfer.Deletion;
using Catalog.Transfer.Feed;
using Catalog.Transfer.Queue;
using Catalog.Transfer.Rules;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Catalog.Transfer.Hosting;

public static class TransferHosting
{
    /// <summary>Options, the transfer database, the catalog client, the rule service and the background workers.</summary>
    public static WebApplicationBuilder AddTransfer(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<TransferOptions>().BindConfiguration(TransferOptions.Section)
            .Validate(o => o.MaxActive > 0, "Transfer:MaxActive must be positive")
            .Validate(o => o.InitialLinkConcurrency is > 0 && o.InitialLinkConcurrency <= o.MaxLinkConcurrency, "Transfer:InitialLinkConcurrency must be 1 to MaxLinkConcurrency")
            .Validate(o => o.MaxAttempts > 0, "Transfer:MaxAttempts must be positive")
            .ValidateOnStart();
        builder.Services.ConfigureHttpJsonOptions(o => CatalogJson.Configure(o.SerializerOptions));
        var connection = builder.Configuration.GetConnectionString("Transfer")
            ?? throw new InvalidOperationException("ConnectionStrings:Transfer is required (the transfer service's own database)");
        builder.Services.AddSingleton(_ => new NpgsqlDataSourceBuilder(connection) { Name = "transfer" }.Build());
        builder.Services.AddSingleton(sp => new ModuleMigrator(sp.GetRequiredService<NpgsqlDataSource>(), typeof(TransferHosting).Assembly, "transfer",
            sp.GetRequiredService<ILogger<ModuleMigrator>>()));
        builder.Services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<TransferOptions>>().Value;
            return CatalogClient.Create(new CatalogClientOptions
            {
                BaseAddress = o.CatalogUrl, Token = ModuleToken.Resolve(o.CatalogToken, o.CatalogTokenFile, TransferOptions.Section), MaxRetries = 3,
            });
        });
        builder.Services.AddSingleton(sp => new Faults(sp.GetRequiredService<IOptions<TransferOptions>>().Value.Fault));
        builder.Services.AddSingleton(sp => new CallerIdentity(sp.GetRequiredService<IOptions<TransferOptions>>().Value.CatalogUrl));
        builder.Services.AddSingleton<LinkOptimizer>();
        builder.Services.AddSingleton<Evaluator>();
        builder.Services.AddSingleton<RuleService>();
        builder.Services.AddSingleton<ConsistencyCheck>();
        builder.Services.AddSingleton<Conveyor>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Conveyor>());
        builder.Services.AddHostedService<FeedFollower>();
        builder.Services.AddHostedService<Reaper>();
        builder.Services.AddModuleOpenApi();
        return builder;
    }
}
