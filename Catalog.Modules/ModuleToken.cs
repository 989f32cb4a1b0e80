namespace Catalog.Modules;

/// <summary>A module's own catalog token: given directly, or read from a file (so it is not on a command line).</summary>
public static class ModuleToken
{
    public static string Resolve(string? token, string? file, string section) =>
        token is { Length: > 0 } t ? t
        : file is { Length: > 0 } f && File.Exists(f) ? File.ReadAllText(f).Trim()
        : throw new InvalidOperationException($"{section}:CatalogToken or {section}:CatalogTokenFile must give the service's catalog token");
}
