using Catalog.Api.Files;
using Catalog.Api.GraphQL;
using Catalog.Api.Infrastructure;
using Catalog.Api.Namespace;
using Catalog.Api.Replicas;
using Catalog.Api.StorageElements;
using Catalog.Api.Errors;
using Catalog.Storage;
using Scalar.AspNetCore;

var builder = WebApplication.CreateBuilder(args);
builder.AddCatalogStorage();
builder.AddCatalogServices();
builder.AddCatalogGraphQL();

var app = builder.Build();
if (args.Contains("migrate"))
{
    await app.MigrateAsync();
    return;
}

app.UseCatalogErrors();
app.MapHealthApi();
app.MapStorageElementsApi();
app.MapNamespaceApi();
app.MapFilesApi();
app.MapReplicasApi();
app.MapGraphQL();
app.MapOpenApi();
app.MapScalarApiReference();
await app.MigrateOnStartAsync();
app.Run();

public partial class Program;
