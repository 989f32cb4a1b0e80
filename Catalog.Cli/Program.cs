namespace Catalog.Cli;

internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };
        return await CatalogCli.RunAsync(args, CliConsole.System, cancel.Token);
    }
}
