namespace Catalog.Cli;

/// <summary>
/// What a command run sees of the outside world: its streams, environment and how it builds a
/// client. The process uses <see cref="System"/>; tests pass captured streams and an in-process
/// server's transport.
/// </summary>
public sealed class CliConsole
{
    public required TextWriter Out { get; init; }
    public required TextWriter Error { get; init; }
    /// <summary>Standard input, as bytes (JSON and NDJSON input is read from it).</summary>
    public required Stream In { get; init; }

    /// <summary>Whether standard input is a pipe or file (then "-" and missing arguments read it).</summary>
    public bool InputRedirected { get; init; }

    /// <summary>Whether progress bars may be drawn (standard error is a terminal).</summary>
    public bool Interactive { get; init; }

    public Func<string, string?> Environment { get; init; } = global::System.Environment.GetEnvironmentVariable;

    /// <summary>Replaces the socket transport of the client (tests).</summary>
    public HttpMessageHandler? Transport { get; init; }

    public static CliConsole System => new()
    {
        Out = Console.Out,
        Error = Console.Error,
        In = Console.OpenStandardInput(),
        InputRedirected = Console.IsInputRedirected,
        Interactive = !Console.IsErrorRedirected,
    };
}
