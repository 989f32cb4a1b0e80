using System.Net;
using System.Text;
using System.Text.Json;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Contracts;

/// <summary>
/// Answers the framework would give without words (a missing content type, a wrong method, an
/// unknown route) say what to do instead, with a code, and store nothing.
/// </summary>
[Collection(CatalogCollection.Name)]
public class PlainMessageTests(CatalogFixture fx)
{
    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    [Theory]
    [InlineData(null)]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    public async Task A_body_without_a_JSON_content_type_is_told_to_send_one_and_changes_nothing(string? contentType)
    {
        var path = TestData.Dir("no-content-type");
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes($"{{\"path\": \"{path}\"}}"));
        if (contentType is not null) content.Headers.ContentType = new(contentType);
        using var response = await fx.Http.PostAsync("api/v1/datasets", content);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        var problem = await ProblemAsync(response);
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.StartsWith("send Content-Type: application/json", detail);
        Assert.Contains(contentType is null ? "missing" : $"'{contentType}'", detail);
        Assert.Equal("INVALID_ARGUMENT", problem.GetProperty("code").GetString());
        Assert.Equal("Content-Type", problem.GetProperty("field").GetString());
        await Assert.ThrowsAsync<Catalog.Client.CatalogNotFoundException>(() => fx.Client.StatAsync(path));
    }

    [Fact]
    public async Task A_wrong_method_and_an_unknown_route_say_where_the_API_is()
    {
        using var method = await fx.Http.PutAsync("api/v1/whoami", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, method.StatusCode);
        var wrong = await ProblemAsync(method);
        Assert.Equal("PUT is not an operation of /api/v1/whoami; the API reference at /scalar/v1 lists what is", wrong.GetProperty("detail").GetString());

        using var route = await fx.Http.GetAsync("api/v1/no-such-thing");
        Assert.Equal(HttpStatusCode.NotFound, route.StatusCode);
        var missing = await ProblemAsync(route);
        Assert.Equal("NOT_FOUND", missing.GetProperty("code").GetString());
        Assert.Contains("no endpoint GET /api/v1/no-such-thing", missing.GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("api/v1/directories?path=/belle&limit=abc", "limit: 'abc' is not a whole number", "limit")]
    [InlineData("api/v1/datasets?under=/belle&limit=1.5", "limit: '1.5' is not a whole number", "limit")]
    [InlineData("api/v1/audit?from=yesterday", "from: 'yesterday' is not a time (ISO 8601", "from")]
    [InlineData("api/v1/changes?wait=soon", "wait: 'soon' is not a number", "wait")]
    [InlineData("api/v1/replicas?lfn=/belle/x&all=maybe", "all: 'maybe' is not true or false", "all")]
    [InlineData("api/v1/files/by-guid/xyz", "guid: must be a GUID", "guid")]
    public async Task A_query_value_of_the_wrong_kind_is_named_without_type_names(string uri, string expected, string field)
    {
        using var response = await fx.Http.GetAsync(uri);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await ProblemAsync(response);
        Assert.StartsWith(expected, problem.GetProperty("detail").GetString());
        Assert.DoesNotContain("Nullable", problem.GetProperty("detail").GetString());
        Assert.Equal(field, problem.GetProperty("field").GetString());
    }

    [Theory]
    [InlineData("api/v1/datasets")]
    [InlineData("api/v1/metadata")]
    [InlineData("api/v1/query")]
    public async Task A_write_without_a_body_is_told_to_send_one(string uri)
    {
        using var response = await fx.Http.PostAsync(uri, new StringContent("", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var detail = (await ProblemAsync(response)).GetProperty("detail").GetString()!;
        Assert.StartsWith("the request has no body: send a JSON object", detail);
        Assert.DoesNotContain("Service", detail);
    }
}
