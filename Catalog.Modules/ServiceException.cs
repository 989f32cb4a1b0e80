using Catalog.Contracts;

namespace Catalog.Modules;

/// <summary>A refusal a client can act on: its code, the field at fault, plain words.</summary>
public sealed class ServiceException(ErrorCode code, string message, string? field = null) : Exception(message)
{
    public ErrorCode Code { get; } = code;
    public string? Field { get; } = field;

    public static ServiceException Invalid(string field, string rule) => new(ErrorCode.InvalidArgument, $"{field} {rule}", field);
    public static ServiceException NotFound(string what) => new(ErrorCode.NotFound, $"{what} does not exist");
    public static ServiceException Conflict(string field, string why) => new(ErrorCode.Conflict, why, field);
}
