using System.Net;
using System.Text;
using Catalog.Api.Errors;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Catalog.Tests.Contracts;

/// <summary>
/// One table (ErrorCodes.HttpStatus) decides the status of every error code: the server's
/// ProblemDetails carry it and the client picks its exception type by it, so the doors cannot disagree.
/// </summary>
public class ErrorStatusTests
{
    public static TheoryData<ErrorCode> Codes() => [.. Enum.GetValues<ErrorCode>()];

    [Theory]
    [MemberData(nameof(Codes))]
    public async Task Server_answers_the_tables_status_and_the_client_throws_the_matching_type(ErrorCode code)
    {
        var http = new DefaultHttpContext { RequestServices = new ServiceCollection().AddLogging().AddProblemDetails().BuildServiceProvider() };
        var body = new MemoryStream();
        http.Response.Body = body;
        await ErrorMapping.Problem(new ItemError(code, "refused", "field")).ExecuteAsync(http);
        Assert.Equal(code.HttpStatus(), http.Response.StatusCode);

        var answer = Encoding.UTF8.GetString(body.ToArray());
        var client = CatalogClient.Create(new CatalogClientOptions { BaseAddress = new Uri("http://localhost/"), MaxRetries = 0 },
            new Answer((HttpStatusCode)http.Response.StatusCode, answer));
        var e = await Assert.ThrowsAnyAsync<CatalogClientException>(() => client.StatAsync("/belle/x"));
        Assert.Equal(code, e.Code);
        Assert.Equal(code.HttpStatus(), e.Status);
        var expected = code.HttpStatus() switch
        {
            400 => typeof(CatalogValidationException),
            401 => typeof(CatalogUnauthorizedException),
            403 => typeof(CatalogForbiddenException),
            404 => typeof(CatalogNotFoundException),
            409 or 422 => typeof(CatalogConflictException),
            429 => typeof(CatalogRateLimitedException),
            503 => typeof(CatalogOverloadedException),
            _ => typeof(CatalogClientException),
        };
        Assert.Equal(expected, e.GetType());
    }

    private sealed class Answer(HttpStatusCode status, string body) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct) =>
            Task.FromResult(new HttpResponseMessage(status) { Content = new StringContent(body, Encoding.UTF8, "application/problem+json") });
    }
}

/// <summary>Failures of the moment are 503 with Retry-After, never 500.</summary>
public class TransientFailureTests
{
    public static TheoryData<string> SqlStates() => ["57P01", "57P02", "57P03", "53300", "40001", "40P01"];

    [Theory]
    [MemberData(nameof(SqlStates))]
    public void A_database_going_away_or_a_replayable_conflict_is_overload(string sqlState)
    {
        var error = ErrorMapping.Classify(new Npgsql.PostgresException("terminating connection", "FATAL", "FATAL", sqlState));
        Assert.Equal(ErrorCode.Overloaded, error.Code);
        Assert.Equal(503, error.Code.HttpStatus());
    }

    [Fact]
    public void A_cut_connection_is_overload_and_a_bug_is_not()
    {
        Assert.Equal(ErrorCode.Overloaded, ErrorMapping.Classify(new Npgsql.NpgsqlException("Exception while reading from stream", new EndOfStreamException())).Code);
        Assert.Equal(ErrorCode.Internal, ErrorMapping.Classify(new Npgsql.PostgresException("syntax error", "ERROR", "ERROR", "42601")).Code);
        Assert.Equal(ErrorCode.Internal, ErrorMapping.Classify(new InvalidOperationException("bug")).Code);
    }
}

/// <summary>Npgsql's two timeouts, produced for real: a statement past its command timeout and a pool with no connection to give.</summary>
[Collection(CatalogCollection.Name)]
public class TimeoutClassificationTests(CatalogFixture fx)
{
    [Fact]
    public async Task A_slow_statement_and_an_exhausted_pool_are_both_503_and_say_which()
    {
        var slow = await Assert.ThrowsAnyAsync<Npgsql.NpgsqlException>(async () =>
        {
            await using var conn = new Npgsql.NpgsqlConnection(fx.PostgresConnectionString);
            await conn.OpenAsync();
            await using var cmd = new Npgsql.NpgsqlCommand("select pg_sleep(5)", conn) { CommandTimeout = 1 };
            await cmd.ExecuteNonQueryAsync();
        });
        var slowError = ErrorMapping.Classify(slow);
        Assert.Equal(ErrorCode.Overloaded, slowError.Code);
        Assert.Contains("did not answer in time", slowError.Message);

        await using var pool = Npgsql.NpgsqlDataSource.Create(new Npgsql.NpgsqlConnectionStringBuilder(fx.PostgresConnectionString) { MaxPoolSize = 1, Timeout = 1 }.ConnectionString);
        await using var held = await pool.OpenConnectionAsync();
        var exhausted = await Assert.ThrowsAnyAsync<Npgsql.NpgsqlException>(async () => await pool.OpenConnectionAsync());
        var exhaustedError = ErrorMapping.Classify(exhausted);
        Assert.Equal(ErrorCode.Overloaded, exhaustedError.Code);
        Assert.Contains("at capacity", exhaustedError.Message);
    }
}
