using Catalog.Modules;
using Catalog.Transfer;
using Catalog.Transfer.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddTransfer();
var app = builder.Build();
await app.Services.GetRequiredService<ModuleMigrator>().MigrateAsync();
if (args.Contains("migrate")) return 0;

app.UseModuleErrors("transfer");
app.MapModuleHealth();
app.MapTransferApi();
app.MapOpenApi();
await app.RunAsync();
return 0;

public partial class Program;
