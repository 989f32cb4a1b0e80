using System.Text.Json;
using Catalog.Client;

namespace Catalog.Cli;

/// <summary>
/// Where the server and token come from, first match wins: the <c>--url</c>/<c>--token</c>
/// options, then <c>CATALOG_URL</c>/<c>CATALOG_TOKEN</c>, then the config file
/// (<c>--config</c>, <c>CATALOG_CONFIG</c>, or <c>~/.config/catalog/config.json</c>, holding
/// <c>{"url": "...", "token": "..."}</c>), then http://127.0.0.1:5080.
/// </summary>
internal static class CliSettings
{
    public static CatalogClientOptions Resolve(string? url, string? token, string? configPath, CliConsole console)
    {
        var env = console.Environment;
        configPath ??= env("CATALOG_CONFIG");
        var explicitConfig = configPath is not null;
        configPath ??= Path.Combine(env("XDG_CONFIG_HOME") ?? Path.Combine(env("HOME") ?? "~", ".config"), "catalog", "config.json");
        string? fileUrl = null, fileToken = null;
        if (File.Exists(configPath))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(configPath));
                if (doc.RootElement.TryGetProperty("url", out var u)) fileUrl = u.GetString();
                if (doc.RootElement.TryGetProperty("token", out var t)) fileToken = t.GetString();
            }
            catch (JsonException e)
            {
                throw new CliUsageException($"config file {configPath} is not valid JSON: {e.Message}");
            }
        }
        else if (explicitConfig)
        {
            throw new CliUsageException($"config file {configPath} does not exist");
        }

        var address = url ?? env("CATALOG_URL") ?? fileUrl;
        // A token pasted from a Windows file or a web page carries a trailing \r or spaces: never part of a JWT.
        var options = new CatalogClientOptions { Token = (token ?? env("CATALOG_TOKEN") ?? fileToken)?.Trim() };
        if (address is not null)
        {
            if (!Uri.TryCreate(address.EndsWith('/') ? address : address + "/", UriKind.Absolute, out var uri)
                || uri.Scheme is not ("http" or "https"))
                throw new CliUsageException($"--url: '{address}' is not an http(s) URL");
            options.BaseAddress = uri;
        }
        return options;
    }
}

/// <summary>A usage error found after parsing (exit code 2).</summary>
internal sealed class CliUsageException(string message) : Exception(message);
