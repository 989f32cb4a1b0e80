using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Net.Sockets;
using Catalog.Client;
using Catalog.Contracts;

namespace Catalog.Cli;

/// <summary>
/// The <c>catalog</c> command. Exit codes: 0 success, 1 error, 2 usage (bad arguments),
/// 3 partial failure (the server answered, but some items of a batch failed).
/// </summary>
public static class CatalogCli
{
    public const int Ok = 0, Failed = 1, Usage = 2, Partial = 3;

    public static async Task<int> RunAsync(string[] args, CliConsole console, CancellationToken ct = default)
    {
        var root = Build(console);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0 && parse.Action is not (HelpAction or HelpWithExample))
        {
            foreach (var error in parse.Errors) console.Error.WriteLine($"catalog: {error.Message}");
            WriteUsage(console.Error, parse.CommandResult.Command);
            return Usage;
        }
        return await parse.InvokeAsync(new InvocationConfiguration { Output = console.Out, Error = console.Error }, ct);
    }

    internal static RootCommand Build(CliConsole console)
    {
        var globals = new GlobalOptions();
        var root = new RootCommand("""
            The Belle II file, replica and metadata catalog from a shell.

            The server and token come from --url/--token, then CATALOG_URL/CATALOG_TOKEN, then the
            config file (~/.config/catalog/config.json: {"url": ..., "token": ...}), then
            http://127.0.0.1:5080. Every command takes --json for scripts.
            Exit codes: 0 success, 1 error, 2 bad arguments, 3 some items of a batch failed.
            """);
        foreach (var option in globals.All) root.Options.Add(option);
        var commands = new Commands(console, globals);
        foreach (var command in commands.All()) root.Subcommands.Add(command);
        commands.Examples[root] = "catalog ls -l /belle/MC";
        var help = root.Options.OfType<HelpOption>().Single();
        help.Action = new HelpWithExample((HelpAction)help.Action!, commands.Examples);
        return root;
    }

    /// <summary>The standard help, followed by the command's example.</summary>
    private sealed class HelpWithExample(HelpAction standard, IReadOnlyDictionary<Command, string> examples) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            standard.Invoke(parseResult);
            if (examples.TryGetValue(parseResult.CommandResult.Command, out var example))
            {
                var output = parseResult.InvocationConfiguration.Output;
                output.WriteLine("Example:");
                output.WriteLine($"  {example}");
                output.WriteLine();
            }
            return CatalogCli.Ok;
        }
    }

    /// <summary>
    /// A token the parser took as an argument although it reads like an option: `catalog ls
    /// --no-such-option` would otherwise list a path named "--no-such-option" (and ask the server).
    /// After a "--" everything is an argument, as usual.
    /// </summary>
    internal static string? OptionLikeArgument(ParseResult parse)
    {
        if (parse.Tokens.Any(t => t.Type == System.CommandLine.Parsing.TokenType.DoubleDash)) return null;
        return parse.CommandResult.Children.OfType<System.CommandLine.Parsing.ArgumentResult>()
            .SelectMany(a => a.Tokens).Select(t => t.Value)
            .FirstOrDefault(v => v.Length > 1 && v[0] == '-' && !double.TryParse(v, System.Globalization.CultureInfo.InvariantCulture, out _));
    }

    /// <summary>"Usage: catalog ls [options] &lt;path&gt;" and where to find more.</summary>
    internal static void WriteUsage(TextWriter writer, Command command)
    {
        var names = new List<string>();
        for (Command? c = command; c is not null && c is not RootCommand; c = c.Parents.OfType<Command>().FirstOrDefault())
            names.Insert(0, c.Name);
        var path = string.Join(' ', names.Prepend("catalog"));
        var args = command.Arguments.Where(a => !a.Hidden).Select(a =>
            a.Arity.MaximumNumberOfValues > 1 ? $"<{a.Name}>..." : a.Arity.MinimumNumberOfValues == 0 ? $"[<{a.Name}>]" : $"<{a.Name}>");
        var sub = command.Subcommands.Count > 0 ? " <command>" : "";
        writer.WriteLine($"Usage: {path}{sub} [options] {string.Join(' ', args)}".TrimEnd());
        writer.WriteLine($"Run '{path} --help' for more.");
    }

    /// <summary>Runs a command body, turning failures into a message on standard error and an exit code.</summary>
    internal static async Task<int> GuardAsync(CommandRun run, Func<CommandRun, CancellationToken, Task<int>> body, CancellationToken ct)
    {
        var err = run.Console.Error;
        try
        {
            if (OptionLikeArgument(run.Parse) is { } stray)
                throw new CliUsageException($"unknown option '{stray}' (a path or name never starts with '-'; put '--' before one that does)");
            return await body(run, ct);
        }
        catch (CliUsageException e)
        {
            err.WriteLine($"catalog: {e.Message}");
            WriteUsage(err, run.Command);
            return Usage;
        }
        catch (CatalogUnauthorizedException e)
        {
            err.WriteLine($"catalog: UNAUTHORIZED: {e.Message}");
            err.WriteLine("catalog: give a token with --token, CATALOG_TOKEN or the config file (./run.sh writes an admin token to .data/auth/admin.token).");
            return Failed;
        }
        catch (CatalogClientException e)
        {
            err.WriteLine($"catalog: {ErrorCodes.ToWire(e.Code)}: {e.Message}" + (e.Field is null || e.Message.Contains(e.Field) ? "" : $" (field {e.Field})"));
            return Failed;
        }
        catch (HttpRequestException e) when (run.Command.Parents.OfType<Command>().Append(run.Command).Any(c => c.Name == "production"))
        {
            var reason = e.InnerException is SocketException s ? s.Message : e.Message;
            err.WriteLine($"catalog: cannot reach the production service at {run.ProductionUrl}: {reason}");
            err.WriteLine("catalog: is it running (./run.sh starts it)? Set the address with --production-url or CATALOG_PRODUCTION_URL.");
            return Failed;
        }
        catch (HttpRequestException e) when (run.Command.Parents.OfType<Command>().Append(run.Command).Any(c => c.Name is "rule" or "transfer" or "consistency"))
        {
            var reason = e.InnerException is SocketException s ? s.Message : e.Message;
            err.WriteLine($"catalog: cannot reach the transfer service at {run.TransferUrl}: {reason}");
            err.WriteLine("catalog: is it running (./run.sh starts it)? Set the address with --transfer-url or CATALOG_TRANSFER_URL.");
            return Failed;
        }
        catch (HttpRequestException e) when (run.Command.Parents.OfType<Command>().Append(run.Command).Any(c => c.Name is "monitor" or "downtime"))
        {
            var reason = e.InnerException is SocketException s ? s.Message : e.Message;
            err.WriteLine($"catalog: cannot reach the monitor at {run.MonitorUrl}: {reason}");
            err.WriteLine("catalog: is it running (./run.sh starts it)? Set the address with --monitor-url or CATALOG_MONITOR_URL.");
            return Failed;
        }
        catch (HttpRequestException e)
        {
            var reason = e.InnerException is SocketException s ? s.Message : e.Message;
            err.WriteLine($"catalog: cannot reach the catalog at {run.ServerUrl}: {reason}");
            err.WriteLine("catalog: is the server running? Set the address with --url or CATALOG_URL.");
            return Failed;
        }
        catch (TimeoutException e)
        {
            err.WriteLine($"catalog: timed out: {e.Message}");
            return Failed;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            err.WriteLine("catalog: interrupted");
            return 130;
        }
        catch (IOException e)
        {
            err.WriteLine($"catalog: {e.Message}");
            return Failed;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Never a stack trace: say what failed, in one line, and exit 1.
            err.WriteLine($"catalog: unexpected {e.GetType().Name}: {e.Message}");
            return Failed;
        }
    }
}

/// <summary>Options every command takes.</summary>
internal sealed class GlobalOptions
{
    public readonly Option<string?> Url = new("--url") { Description = "Server address (default: CATALOG_URL, the config file, http://127.0.0.1:5080)", Recursive = true };
    public readonly Option<string?> Token = new("--token") { Description = "Bearer token (default: CATALOG_TOKEN, the config file)", Recursive = true };
    public readonly Option<string?> Config = new("--config") { Description = "Config file (default: CATALOG_CONFIG, ~/.config/catalog/config.json)", Recursive = true };
    public readonly Option<bool> Json = new("--json") { Description = "Print JSON for scripts (NDJSON, one object per line, for ls and replicas)", Recursive = true };
    public readonly Option<int> Retries = new("--retries") { Description = "Retries of safe requests after transient failures", DefaultValueFactory = _ => 6, Recursive = true };

    public readonly Option<string?> ProductionUrl = new("--production-url") { Description = "Production service address (default: CATALOG_PRODUCTION_URL, http://127.0.0.1:5090)", Recursive = true };
    public readonly Option<string?> TransferUrl = new("--transfer-url") { Description = "Transfer service address (default: CATALOG_TRANSFER_URL, http://127.0.0.1:5091)", Recursive = true };
    public readonly Option<string?> MonitorUrl = new("--monitor-url") { Description = "Monitor address (default: CATALOG_MONITOR_URL, http://127.0.0.1:5092)", Recursive = true };
    public IEnumerable<Option> All => [Url, Token, Config, Json, Retries, ProductionUrl, TransferUrl, MonitorUrl];
}

/// <summary>One invocation of a command: its parse result, console and (lazily) client.</summary>
internal sealed class CommandRun(ParseResult parse, CliConsole console, GlobalOptions globals)
{
    private CatalogClient? _client;
    private CatalogClientOptions? _options;

    public ParseResult Parse { get; } = parse;
    public CliConsole Console { get; } = console;
    public Command Command => Parse.CommandResult.Command;
    public TextWriter Out => Console.Out;
    public bool Json => Parse.GetValue(globals.Json);

    public T? Get<T>(Option<T> option) => Parse.GetValue(option);
    public T? Get<T>(Argument<T> argument) => Parse.GetValue(argument);

    public string ServerUrl => Options.BaseAddress.ToString().TrimEnd('/');

    private CatalogClientOptions Options => _options ??= CreateOptions();

    public CatalogClient Client => _client ??= CatalogClient.Create(Options, Console.Transport);

    /// <summary>The production service: --production-url, CATALOG_PRODUCTION_URL, then http://127.0.0.1:5090; the catalog's token.</summary>
    public ProductionClient Production => _production ??= CreateProduction();
    private ProductionClient? _production;

    public string ProductionUrl => (Parse.GetValue(globals.ProductionUrl) ?? Console.Environment("CATALOG_PRODUCTION_URL") ?? "http://127.0.0.1:5090").TrimEnd('/');

    private ProductionClient CreateProduction() => new(ServiceHttp(ProductionUrl, "--production-url", TimeSpan.FromMinutes(5)));

    /// <summary>The transfer service: --transfer-url, CATALOG_TRANSFER_URL, then http://127.0.0.1:5091; the catalog's token.</summary>
    public TransferClient Transfer => _transfer ??= new TransferClient(ServiceHttp(TransferUrl, "--transfer-url", TimeSpan.FromMinutes(10)));
    private TransferClient? _transfer;

    public string TransferUrl => (Parse.GetValue(globals.TransferUrl) ?? Console.Environment("CATALOG_TRANSFER_URL") ?? "http://127.0.0.1:5091").TrimEnd('/');

    /// <summary>The monitor: --monitor-url, CATALOG_MONITOR_URL, then http://127.0.0.1:5092; the catalog's token.</summary>
    public MonitorClient Monitor => _monitor ??= new MonitorClient(ServiceHttp(MonitorUrl, "--monitor-url", TimeSpan.FromMinutes(1)));
    private MonitorClient? _monitor;

    public string MonitorUrl => (Parse.GetValue(globals.MonitorUrl) ?? Console.Environment("CATALOG_MONITOR_URL") ?? "http://127.0.0.1:5092").TrimEnd('/');

    /// <summary>An HTTP client of a module service at <paramref name="url"/>, carrying the catalog's token.</summary>
    private HttpClient ServiceHttp(string url, string option, TimeSpan timeout)
    {
        if (!Uri.TryCreate(url + "/", UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new CliUsageException($"{option}: '{url}' is not an http(s) URL");
        var http = new HttpClient(Console.Transport ?? new SocketsHttpHandler()) { BaseAddress = uri, Timeout = timeout };
        if (Options.Token is { Length: > 0 } token) http.DefaultRequestHeaders.Authorization = new("Bearer", token);
        return http;
    }

    private CatalogClientOptions CreateOptions()
    {
        var options = CliSettings.Resolve(Parse.GetValue(globals.Url), Parse.GetValue(globals.Token), Parse.GetValue(globals.Config), Console);
        var retries = Parse.GetValue(globals.Retries);
        if (retries < 0) throw new CliUsageException("--retries must be 0 or more");
        options.MaxRetries = retries;
        options.OnRetry = r => Console.Error.WriteLine(
            $"catalog: attempt {r.Attempt} failed ({r.Reason}); retrying in {r.Delay.TotalSeconds:0.0} s");
        return options;
    }
}
