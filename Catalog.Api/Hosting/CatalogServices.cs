using Catalog.Api.Files;
using Catalog.Api.Namespace;
using Catalog.Api.Replicas;
using Catalog.Api.StorageElements;
using Catalog.Contracts;

namespace Catalog.Api.Hosting;

public static class CatalogServices
{
    /// <summary>Options, the service layer shared by REST and GraphQL, JSON and ProblemDetails.</summary>
    public static IHostApplicationBuilder AddCatalogServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<CatalogOptions>()
            .Bind(builder.Configuration.GetSection(CatalogOptions.Section))
            // The default lives here: a list default in the class would be appended to, not replaced, by configuration.
            .PostConfigure(o => { if (o.Roots.Count == 0) o.Roots.Add("/belle"); else o.Roots = o.Roots.Distinct().ToList(); })
            .ValidateDataAnnotations()
            .Validate(o => o.Roots.All(IsRootPath), "Catalog:Roots entries must be absolute paths like /belle without a trailing '/'")
            .ValidateOnStart();

        builder.Services.AddSingleton<Db>();
        builder.Services.AddSingleton<NamespaceService>();
        builder.Services.AddSingleton<RegistrationService>();
        builder.Services.AddSingleton<RegistrationWriter>();
        builder.Services.AddOptions<RegistrationOptions>().BindConfiguration($"{CatalogOptions.Section}:Registration").ValidateDataAnnotations().ValidateOnStart();
        // The coalescer is fed by the writer's shared-transaction method, and lives as long as the host.
        builder.Services.AddSingleton(sp => new RegistrationCoalescer(sp.GetRequiredService<RegistrationWriter>().WriteManyAsync,
            sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<RegistrationOptions>>()));
        builder.Services.AddSingleton<FileService>();
        builder.Services.AddSingleton<ReplicaService>();
        builder.Services.AddSingleton<Files.CorrectionService>();
        builder.Services.AddSingleton<StorageElementService>();
        builder.Services.AddSingleton<Metadata.SchemaService>();
        builder.Services.AddSingleton<Metadata.MetadataService>();
        builder.Services.AddSingleton<Metadata.QueryService>();
        builder.Services.AddSingleton<Datasets.DatasetService>();
        builder.Services.AddSingleton<Datasets.CollectionService>();
        builder.Services.AddSingleton<Lineage.LineageService>();
        builder.Services.AddHostedService<IdempotencyKeyExpiry>();
        builder.Services.AddSingleton<Changes.ChangeFeed>();
        builder.Services.AddHostedService<Changes.ChangeRetention>();
        builder.Services.AddSingleton<Audit.AuditLog>();
        builder.Services.AddSingleton<Audit.AuditService>();
        builder.Services.AddHostedService<Audit.AuditLog.Writer>();
        // After the audit writer: hosted services stop in reverse order, so the coalescer drains its
        // lanes (and their requests queue their audit events) before the audit writer drains.
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RegistrationCoalescer>());

        // Requests name only fields the catalog knows: a misspelled one ("replica" for "replicas") is
        // refused with its name instead of silently ignored. (Clients keep reading answers leniently.)
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            CatalogJson.Configure(o.SerializerOptions);
            o.SerializerOptions.UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow;
        });
        builder.Services.AddProblemDetails();
        // Malformed JSON and unbindable parameters reach the one error mapping (with the JSON path) instead of a bare 400.
        builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        // The document declares the bearer token every operation takes, so Scalar's "try it" sends one
        // and its code samples show the Authorization header.
        builder.Services.AddOpenApi(o => o.AddSchemaTransformer((schema, context, _) =>
        {
            // A mode is a number, or octal digits in a string (Catalog.Contracts.OctalModeConverter).
            if (context.JsonPropertyInfo?.CustomConverter is OctalModeConverter)
            {
                schema.Type = Microsoft.OpenApi.JsonSchemaType.Integer | Microsoft.OpenApi.JsonSchemaType.String | Microsoft.OpenApi.JsonSchemaType.Null;
                schema.Format = null;
                schema.Pattern = "^(0o)?[0-7]{1,4}$";
                schema.Description = "Permission bits: a number (420), or octal digits as a string (\"644\", \"0644\", \"0o644\")";
            }
            return Task.CompletedTask;
        }).AddDocumentTransformer((document, _, _) =>
        {
            document.Components ??= new Microsoft.OpenApi.OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, Microsoft.OpenApi.IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["bearer"] = new Microsoft.OpenApi.OpenApiSecurityScheme
            {
                Type = Microsoft.OpenApi.SecuritySchemeType.Http, Scheme = "bearer", BearerFormat = "JWT",
                Description = "A catalog token (catalog token issue, or ./run.sh's .data/auth/admin.token); reads under Catalog:Auth:PublicReadRoots need none",
            };
            // No server list: clients (Scalar's "try it") use the address the document was read from,
            // which stays right behind a proxy or on another port.
            document.Servers?.Clear();
            document.Info.Title = "Belle II file, replica and metadata catalog";
            document.Info.Description = "REST under /api/v1: the namespace, files, replicas, storage elements, metadata and queries, datasets, "
                + "collections, lineage, the change feed, tokens and the audit log. Errors are ProblemDetails with a stable `code` and the field "
                + "they concern. The same operations are in GraphQL at /graphql (open it in a browser for the IDE).";
            document.Security = [new Microsoft.OpenApi.OpenApiSecurityRequirement { [new Microsoft.OpenApi.OpenApiSecuritySchemeReference("bearer", document)] = [] }];
            return Task.CompletedTask;
        }));
        return builder;
    }

    private static bool IsRootPath(string root) =>
        root.Length > 1 && root[0] == '/' && root[^1] != '/' && !root.Contains("//") && !root.Split('/').Skip(1).Any(c => c is "." or "..");
}
