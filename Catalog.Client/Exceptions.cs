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

    internal static CatalogClientException Create(ErrorCode code, int status, string message, string? field, TimeSpan? retryAfter) => code switch
    {
        ErrorCode.NotFound => new CatalogNotFoundException(status, message, field),
        ErrorCode.Conflict or ErrorCode.NotEmpty or ErrorCode.IdempotencyKeyReused => new CatalogConflictException(code, status, message, field),
        ErrorCode.InvalidArgument or ErrorCode.InvalidLfn or ErrorCode.UnknownStorageElement or ErrorCode.LimitExceeded
            or ErrorCode.StorageElementWriteDisabled => new CatalogValidationException(code, status, message, field),
        ErrorCode.Unauthorized => new CatalogUnauthorizedException(status, message),
        ErrorCode.Forbidden => new CatalogForbiddenException(status, message),
        ErrorCode.Overloaded => new CatalogOverloadedException(status, message, retryAfter),
        ErrorCode.RateLimited => new CatalogRateLimitedException(status, message, retryAfter),
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
