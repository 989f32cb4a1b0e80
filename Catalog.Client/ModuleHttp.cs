using System.Net.Http.Json;
using Catalog.Contracts;

namespace Catalog.Client;

/// <summary>One JSON request to a module service (production, transfer): the catalog's body encoding and error mapping.</summary>
internal static class ModuleHttp
{
    /// <summary>An HTTP client of a module service carrying a catalog token.</summary>
    public static HttpClient Create(Uri baseAddress, string? token, TimeSpan timeout)
    {
        var http = new HttpClient { BaseAddress = baseAddress, Timeout = timeout };
        if (token is { Length: > 0 }) http.DefaultRequestHeaders.Authorization = new("Bearer", token);
        return http;
    }

    public static async Task<T> SendAsync<T>(HttpClient http, HttpMethod method, string uri, object? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, uri);
        if (body is not null) request.Content = CatalogClient.Body(body);
        using var response = await http.SendAsync(request, ct);
        await CatalogClient.EnsureSuccessAsync(response, ct);
        return (await response.Content.ReadFromJsonAsync<T>(CatalogJson.Options, ct))!;
    }
}
