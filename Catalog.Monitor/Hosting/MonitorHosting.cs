using Catalog.Client;
using Catalog.Contracts;
using Catalog.Modules;
using Catalog.Monitor.Passive;
using Catalog.Monitor.Probes;
using Catalog.Monitor.Status;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Catalog.Monitor.Hosting;

public static class MonitorHosting
{
    /// <summary>Options, the monitor database, the catalog client, the probes and the two monitors (active and passive).</summary>
    public static WebApplicationBuilder AddMonitor(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<MonitorOptions>().BindConfiguration(MonitorOptions.Section)
            .Validate(o => o.ProbeInterval >= TimeSpan.FromSeconds(1), "Monitor:ProbeInterval must be at least a second")
            .Validate(o => o.SampleInterval >= TimeSpan.FromSeconds(1), "Monitor:SampleInterval must be at least a second")
            .Validate(o => o.BanAfter > 0 && o.RecoverAfter > 0, "Monitor:BanAfter and Monitor:RecoverAfter must be positive")
            .Validate(o => o.MinuteRetention >= TimeSpan.FromDays(30), "Monitor:MinuteRetention must keep at least 30 days of one-minute points")
            .ValidateOnStart();
        builder.Services.ConfigureHttpJsonOptions(o => CatalogJson.Configure(o.SerializerOptions));
        var connection = builder.Configuration.GetConnectionString("Monitor")
            ?? throw new InvalidOperationException("ConnectionStrings:Monitor is required (the monitor's own database)");
        builder.Services.AddSingleton(_ =>
        {
            var source = new NpgsqlDataSourceBuilder(connection) { Name = "monitor" };
            // Chart queries are short aggregations: JIT compilation costs more than it saves on them.
            source.ConnectionStringBuilder.Options = (source.ConnectionStringBuilder.Options + " -c jit=off").Trim();
            return source.Build();
        });
        builder.Services.AddSingleton(sp => new ModuleMigrator(sp.GetRequiredService<NpgsqlDataSource>(), typeof(MonitorHosting).Assembly, "monitor",
            sp.GetRequiredService<ILogger<ModuleMigrator>>()));
        builder.Services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<MonitorOptions>>().Value;
            return CatalogClient.Create(new CatalogClientOptions
            {
                BaseAddress = o.CatalogUrl, Token = ModuleToken.Resolve(o.CatalogToken, o.CatalogTokenFile, MonitorOptions.Section), MaxRetries = 1,
                Timeout = TimeSpan.FromSeconds(30),
            });
        });
        builder.Services.AddSingleton(sp => new CallerIdentity(sp.GetRequiredService<IOptions<MonitorOptions>>().Value.CatalogUrl));
        builder.Services.AddSingleton<StatusStore>();
        builder.Services.AddSingleton<SeriesStore>();
        builder.Services.AddSingleton<MonitorMetrics>();
        builder.Services.AddSingleton<SeProbe>();
        builder.Services.AddSingleton<CatalogProbe>();
        builder.Services.AddSingleton<ServiceProbe>();
        builder.Services.AddSingleton<SiteProbe>();
        builder.Services.AddSingleton<ActiveMonitor>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ActiveMonitor>());
        builder.Services.AddSingleton<Sampler>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Sampler>());
        builder.Services.AddModuleOpenApi();
        return builder;
    }
}
