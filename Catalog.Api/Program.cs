using Catalog.Api.Changes;
using Catalog.Api.Datasets;
using Catalog.Api.Files;
using Catalog.Api.GraphQL;
using Catalog.Api.Hosting;
using Catalog.Api.Http;
using Catalog.Api.Health;
using Catalog.Api.Namespace;
using Catalog.Api.Replicas;
using Catalog.Api.StorageElements;
using Catalog.Api.Errors;
using Catalog.Api.Audit;
using Catalog.Api.Health;
using Catalog.Api.Hosting;
using Catalog.Api.Http;
using Catalog.Api.Lineage;
using Catalog.Api.Metadata;
using Catalog.Api.Security;
using Catalog.Storage;
using Scalar.AspNetCore;

var builder = WebApplication.CreateBuilder(args);
builder.AddCatalogStorage();
builder.AddCatalogServices();
builder.AddCatalogAuth();
builder.AddCatalogGraphQL();
builder.AddCatalogConnectionCap();

var app = builder.Build();
if (args.Contains("migrate"))
{
    await app.MigrateAsync();
    return 0;
}
if (args.Length > 0 && args[0] == "token")
{
    try { return await TokensApi.RunCommandAsync(app, args); }
    catch (Exception e) when (e is ArgumentException or CatalogException)
    {
        Console.Error.WriteLine($"token: {e.Message}");
        return 2;
    }
}

app.UseCatalogErrors();
app.UseCatalogAuth();
app.UseIdentityFirst();
app.UseNoControlCharacters();
// The GraphQL IDE's scripts and styles (wwwroot/graphiql), public like the pages that use them.
app.UseStaticFiles();
app.MapHealthApi();
app.MapFrontPage();
var rest = app.MapGroup("").AddEndpointFilterFactory(BufferedJson.Filter);
rest.MapTokensApi();
rest.MapAuditApi();
rest.MapStorageElementsApi();
rest.MapNamespaceApi();
rest.MapFilesApi();
rest.MapReplicasApi();
rest.MapChangesApi();
rest.MapMetadataApi();
rest.MapDatasetsApi();
rest.MapCollectionsApi();
rest.MapLineageApi();
app.MapGraphQL();
app.MapOpenApi();
// The reference works offline (a grid site's service host often has no internet): no web fonts,
// no AI chat, no telemetry; operations are listed by their short summaries.
app.MapScalarApiReference(o => o.WithTitle("Belle II file catalog · REST API").DisableDefaultFonts().DisableTelemetry().DisableAgent().HideDeveloperTools());
await app.MigrateOnStartAsync();
app.Run();
return 0;

public partial class Program;
