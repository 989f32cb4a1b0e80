using Catalog.Grid;
using Catalog.Production.Jobs;

// The job Slurm runs (native AOT where ./run.sh can build it: a job starts in milliseconds).
if (args is ["job", var slice]) return await JobPayload.RunAsync(slice);
// The job's output step alone, for job INDEX of PRODUCTION (the benchmark's raw pipeline): prints the file's Adler-32.
if (args is ["make-output", var production, var index, var size, var file])
{
    Console.WriteLine(OutputContent.Write(file, OutputFile.Seed(production, int.Parse(index)), long.Parse(size)));
    return 0;
}
Console.Error.WriteLine("usage: Catalog.Production.Job job SLICE_FILE | make-output PRODUCTION INDEX SIZE FILE");
return 2;
