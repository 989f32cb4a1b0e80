using System.Text.Json.Serialization;

namespace Catalog.Contracts;

/// <summary>
/// The one error vocabulary of the catalog. REST sends it in ProblemDetails (<c>code</c>),
/// GraphQL in <c>extensions.code</c>, and Catalog.Client maps it back to typed exceptions.
/// On the wire each code is written in UPPER_SNAKE_CASE, e.g. <c>INVALID_LFN</c>.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<ErrorCode>))]
public enum ErrorCode
{
    /// <summary>A field is missing, malformed or out of range.</summary>
    InvalidArgument,
    /// <summary>An LFN breaks a naming rule; the message names the rule.</summary>
    InvalidLfn,
    /// <summary>The path, file, replica or storage element does not exist.</summary>
    NotFound,
    /// <summary>The write contradicts what is stored (another GUID, size or checksum for an LFN, a name in use).</summary>
    Conflict,
    /// <summary>A directory holds entries and the request was not recursive.</summary>
    NotEmpty,
    /// <summary>The storage element is not registered.</summary>
    UnknownStorageElement,
    /// <summary>The storage element does not accept writes.</summary>
    StorageElementWriteDisabled,
    /// <summary>The request exceeds a configured limit; the message names it.</summary>
    LimitExceeded,
    /// <summary>An idempotency key was reused with a different request body.</summary>
    IdempotencyKeyReused,
    /// <summary>The server is overloaded; retry after the advertised delay.</summary>
    Overloaded,
    /// <summary>No valid credentials.</summary>
    Unauthorized,
    /// <summary>Credentials valid but not allowed to do this.</summary>
    Forbidden,
    /// <summary>An unexpected server fault.</summary>
    Internal,
    /// <summary>The caller sent more requests than its rate limit allows; retry after the advertised delay.</summary>
    RateLimited,
    /// <summary>A change-feed cursor older than the feed's retention: changes after it were dropped; list afresh.</summary>
    ChangesExpired,
}

/// <summary>Maps <see cref="ErrorCode"/> to and from its wire spelling.</summary>
public static class ErrorCodes
{
    /// <summary>The UPPER_SNAKE_CASE wire form, e.g. <c>INVALID_LFN</c>.</summary>
    public static string ToWire(this ErrorCode code) => Wire[(int)code];

    /// <summary>Parses a wire code; unknown codes become <see cref="ErrorCode.Internal"/>.</summary>
    public static ErrorCode FromWire(string? code)
    {
        var i = code is null ? -1 : Array.IndexOf(Wire, code);
        return i < 0 ? ErrorCode.Internal : (ErrorCode)i;
    }

    /// <summary>
    /// The HTTP status every door answers for <paramref name="code"/>: the server's ProblemDetails,
    /// the GraphQL endpoint's refusals and the client's exception types all read this one table.
    /// </summary>
    public static int HttpStatus(this ErrorCode code) => code switch
    {
        ErrorCode.InvalidArgument or ErrorCode.InvalidLfn or ErrorCode.UnknownStorageElement or ErrorCode.LimitExceeded => 400,
        ErrorCode.Unauthorized => 401,
        ErrorCode.Forbidden => 403,
        ErrorCode.NotFound => 404,
        ErrorCode.Conflict or ErrorCode.NotEmpty or ErrorCode.StorageElementWriteDisabled => 409,
        ErrorCode.IdempotencyKeyReused => 422,
        ErrorCode.ChangesExpired => 410,
        ErrorCode.RateLimited => 429,
        ErrorCode.Overloaded => 503,
        _ => 500,
    };

    private static readonly string[] Wire = Enum.GetNames<ErrorCode>()
        .Select(n => System.Text.Json.JsonNamingPolicy.SnakeCaseUpper.ConvertName(n)).ToArray();
}

/// <summary>A per-item or per-request error.</summary>
/// <param name="Code">What went wrong.</param>
/// <param name="Message">A sentence for people, naming the rule or limit.</param>
/// <param name="Field">The request field at fault, as a JSON path relative to the item, when there is one.</param>
public sealed record ItemError(ErrorCode Code, string Message, string? Field = null);
