using Catalog.Contracts;

namespace Catalog.Api.Errors;

/// <summary>A failure a client can act on; mapped to ProblemDetails and GraphQL errors in one place.</summary>
public sealed class CatalogException(ErrorCode code, string message, string? field = null) : Exception(message)
{
    public ErrorCode Code { get; } = code;
    public string? Field { get; } = field;

    public ItemError ToItemError() => new(Code, Message, Field);

    public static CatalogException NotFound(string what, string? field = null) => new(ErrorCode.NotFound, $"{what} not found", field);
    /// <summary>The per-item form of <see cref="Invalid"/>, for answers that report items one by one: "field rule".</summary>
    public static ItemError InvalidItem(string field, string rule) => new(ErrorCode.InvalidArgument, $"{field} {rule}", field);

    public static CatalogException Invalid(string field, string message) => new(ErrorCode.InvalidArgument, $"{field}: {message}", field);

    /// <summary>A list longer than a configured limit, naming the field and the setting.</summary>
    public static CatalogException TooMany(string field, int max, string per, string setting) =>
        new(ErrorCode.LimitExceeded, $"{field}: at most {max} per {per} ({setting})", field);
}
