using Catalog.LoadTests;

// Catalog.LoadTests: measures the catalog through Catalog.Client, each figure beside a
// baseline taken in the same run. Scenarios so far: sizing (bytes per file on disk and bulk
// registration against raw binary COPY). Traffic goes to 127.0.0.1 only.
return await Cli.RunAsync(args);
