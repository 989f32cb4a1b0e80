using Catalog.Modules;
using Catalog.Production.Hosting;
using Catalog.Production.Productions;


var builder = WebApplication.CreateBuilder(args);
builder.AddProduction();
var app = builder.Build();
await app.Services.GetRequiredService<ModuleMigrator>().MigrateAsync();
if (args.Contains("migrate")) return 0;
if (args is ["setup", var path, ..]) return await ProductionSchema.SetupAsync(app.Services, path);

app.UseModuleErrors("production");
app.MapModuleHealth();
app.MapProductionApi();
app.MapOpenApi();
await app.RunAsync();
return 0;

public partial class Program;
