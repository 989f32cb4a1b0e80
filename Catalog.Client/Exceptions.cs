using Catalog.Contracts;

namespace Catalog.Client;

/// <summary>An error answered by the catalog, carrying its code, HTTP status and the field at fault.</summary>
public class CatalogClientException(ErrorCode code, int status, string message, string? field = null) : Exception(message)
{
    /// <summary>The catalog's error code.</summary>
    public ErrorCode Code { get; } = code;
    /// <summary>The HTTP status of the answer (0 when no answer came).</summary>
    public int Status { get; } = status;
    /// <summary>The request field the server named, if any.</summary>
    public string? Field { get; } = field;

    /// <summary>The exception type follows the HTTP status of the code (<see cref="ErrorCodes.HttpStatus"/>), the table every door uses.</summary>
    internal static CatalogClientException Create(ErrorCode code, int status, string message, string? field, TimeSpan? retryAfter) => code.HttpStatus() switch
    {
        404 => new CatalogNotFoundException(status, message, field),
        409 or 422 => new CatalogConflictException(code, status, message, field),
        400 => new CatalogValidationException(code, status, message, field),
        401 => new CatalogUnauthorizedException(status, message),
        403 => new CatalogForbiddenException(status, message),
        503 => new CatalogOverloadedException(status, message, retryAfter),
        429 => new CatalogRateLimitedException(status, message, retryAfter),
        _ => new CatalogClientException(code, status, message, field),
    };
}

/// <summary>The path, file, replica or SE does not exist.</summary>
public sealed class CatalogNotFoundException(int status, string message, string? field)
    : CatalogClientException(ErrorCode.NotFound, status, message, field);

/// <summary>The write contradicts what is stored.</summary>
public sealed class CatalogConflictException(ErrorCode code, int status, string message, string? field)
    : CatalogClientException(code, status, message, field);

/// <summary>The request was refused as invalid; <see cref="CatalogClientException.Field"/> names the field.</summary>
public sealed class CatalogValidationException(ErrorCode code, int status, string message, string? field)
    : CatalogClientException(code, status, message, field);

/// <summary>No valid credentials.</summary>
public sealed class CatalogUnauthorizedException(int status, string message)
    : CatalogClientException(ErrorCode.Unauthorized, status, message);

/// <summary>Not allowed.</summary>
public sealed class CatalogForbiddenException(int status, string message)
    : CatalogClientException(ErrorCode.Forbidden, status, message);

/// <summary>The server is at capacity; retry after <see cref="RetryAfter"/>.</summary>
public sealed class CatalogOverloadedException(int status, string message, TimeSpan? retryAfter)
    : CatalogClientException(ErrorCode.Overloaded, status, message)
{
    /// <summary>The delay the server asked for.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;
}

/// <summary>The caller exceeded its rate limit; retry after <see cref="RetryAfter"/>.</summary>
public sealed class CatalogRateLimitedException(int status, string message, TimeSpan? retryAfter)
    : CatalogClientException(ErrorCode.RateLimited, status, message)
{
    /// <summary>The delay the server asked for.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;
}
