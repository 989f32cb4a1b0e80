using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace Catalog.Storage;

public static class StorageSetup
{
    /// <summary>
    /// Registers the one <see cref="NpgsqlDataSource"/> and the one Redis multiplexer of the
    /// process, the migrator and the stores. Fails at start when a connection string is missing.
    /// </summary>
    public static IHostApplicationBuilder AddCatalogStorage(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<StorageOptions>()
            .Bind(builder.Configuration.GetSection(StorageOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.Services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<StorageOptions>>().Value;
            var connectionString = RequiredConnectionString(sp.GetRequiredService<IConfiguration>(), "Catalog");
            var csb = new NpgsqlConnectionStringBuilder(connectionString)
            {
                MaxPoolSize = options.MaxPoolSize,
                Timeout = options.ConnectionTimeoutSeconds,
                // Auto-prepare the few statement shapes we run: saves a parse per call on the hot path.
                MaxAutoPrepare = 64,
                AutoPrepareMinUsages = 2,
                NoResetOnClose = true,
            };
            return new NpgsqlDataSourceBuilder(csb.ConnectionString).Build();
        });

        builder.Services.AddSingleton<IConnectionMultiplexer>(sp =>
        {
            var configuration = RequiredConnectionString(sp.GetRequiredService<IConfiguration>(), "Redis");
            var redis = ConfigurationOptions.Parse(configuration);
            // The catalog must keep answering from PostgreSQL while Redis is away.
            redis.AbortOnConnectFail = false;
            redis.ConnectTimeout = 2000;
            // A cache call that cannot be made now fails now (the read goes to PostgreSQL) instead of queueing.
            redis.BacklogPolicy = BacklogPolicy.FailFast;
            if (!configuration.Contains("asyncTimeout", StringComparison.OrdinalIgnoreCase)) redis.AsyncTimeout = 1000;
            return ConnectionMultiplexer.Connect(redis);
        });
        builder.Services.AddOptions<CacheOptions>()
            .Bind(builder.Configuration.GetSection(CacheOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<HotCache>();
        builder.Services.AddHostedService<HotCache.EpochPoller>();

        builder.Services.AddSingleton<Migrator>();
        return builder;
    }

    private static string RequiredConnectionString(IConfiguration configuration, string name) =>
        configuration.GetConnectionString(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"Missing configuration key 'ConnectionStrings:{name}' (environment: ConnectionStrings__{name}).");
}
