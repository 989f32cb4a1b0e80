using Catalog.Client;
using Catalog.Contracts;
using Catalog.Production.Jobs;
using Microsoft.Extensions.Options;

namespace Catalog.Production.Productions;

/// <summary>
/// <c>Catalog.Production setup PATH</c>, run once by a catalog admin (token in CATALOG_TOKEN):
/// creates PATH, gives it to the service's own identity (its productions create their datasets
/// below it) and declares over it the attributes the jobs write that are not declared yet.
/// </summary>
public static class ProductionSchema
{
    public static async Task<int> SetupAsync(IServiceProvider services, string path)
    {
        var o = services.GetRequiredService<IOptions<ProductionOptions>>().Value;
        var adminToken = Environment.GetEnvironmentVariable("CATALOG_TOKEN");
        if (string.IsNullOrEmpty(adminToken)) { Console.Error.WriteLine("setup: CATALOG_TOKEN must hold a catalog admin's token"); return 2; }
        var admin = CatalogClient.Create(new CatalogClientOptions { BaseAddress = o.CatalogUrl, Token = adminToken });
        var service = (await services.GetRequiredService<CatalogClient>().WhoAmIAsync()).Subject;
        await admin.MakeDirectoryAsync(path, parents: true);
        await admin.ChangeOwnerAsync(path, service, null);
        Console.WriteLine($"{path} belongs to {service}, the production service's identity");
        var declared = (await admin.GetSchemaAsync(path)).Attributes.ToDictionary(a => a.Name, a => a.Type);
        foreach (var (name, type) in OutputFile.Attributes.Where(a => !declared.ContainsKey(a.Name)))
        {
            await admin.DeclareAttributeAsync(new AttributeSpec(path, name, type, Indexed: name is "nEvents" or "runLow" or "experiment"));
            Console.WriteLine($"declared {name} ({type.ToString().ToLowerInvariant()}) over {path}");
        }
        var clash = OutputFile.Attributes.Where(a => declared.TryGetValue(a.Name, out var t) && t != a.Type).ToList();
        foreach (var (name, type) in clash)
            Console.Error.WriteLine($"setup: attribute {name} is declared {declared[name]} over {path}; the jobs write {type}");
        return clash.Count == 0 ? 0 : 1;
    }
}
