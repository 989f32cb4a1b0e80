using Catalog.Modules;
using Catalog.Monitor;
using Catalog.Monitor.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddMonitor();
var app = builder.Build();
await app.Services.GetRequiredService<ModuleMigrator>().MigrateAsync();
if (args.Contains("migrate")) return 0;

app.UseModuleErrors("monitor");
app.MapModuleHealth();
// The dashboard: static pages and the charting library, bundled at build time (no internet needed).
app.UseDefaultFiles();
app.UseStaticFiles();
app.MapMonitorApi();
app.MapOpenApi();
await app.RunAsync();
return 0;

public partial class Program;
