using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Catalog.Client;
using Catalog.Grid;
using Catalog.Contracts;

namespace Catalog.Production.Jobs;

/// <summary>
/// The program Slurm runs for one job (<c>Catalog.Production job SLICE_FILE</c>, array task = the
/// job's place in the slice): read the inputs, "simulate" (write the output from the seed, Adler-32
/// on the way), upload with xrdcp to the site's SE with the checksum verified there (failing over to
/// the next SE), report the upload to the service, then register the file, replica, metadata and
/// parents through Catalog.Client under an idempotency key fixed by (production, job index).
/// A catalog that does not answer is waited out with backoff; the output is never deleted before it
/// is registered, and the service registers it itself if the job gives up.
/// </summary>
public static class JobPayload
{
    public static async Task<int> RunAsync(string sliceFile, CancellationToken ct = default)
    {
        var slice = JsonSerializer.Deserialize(await File.ReadAllTextAsync(sliceFile, ct), JobJson.Default.Slice)!;
        var task = int.Parse(Environment.GetEnvironmentVariable("SLURM_ARRAY_TASK_ID") ?? "0");
        var job = slice.Jobs.Single(j => j.Task == task);
        using var reporter = new Reporter(slice, job);
        try
        {
            return await RunJobAsync(slice, job, reporter, ct);
        }
        catch (Exception e)
        {
            await reporter.SendAsync(new JobReport(job.Attempt, JobState.Failed, FailureClass.Application, $"{e.GetType().Name}: {e.Message}"));
            return 1;
        }
    }

    private static async Task<int> RunJobAsync(Slice slice, SliceJob job, Reporter reporter, CancellationToken ct)
    {
        // One empty file per run (production, index, attempt, Slurm job): the record that a job ran
        // twice cannot be lost, as lines appended by concurrent jobs to one file could be.
        var runs = Path.Combine(slice.Spool, "runs");
        Directory.CreateDirectory(runs);
        File.Create(Path.Combine(runs, $"{slice.Production}_{job.Index}_{job.Attempt}_{Environment.GetEnvironmentVariable("SLURM_JOB_ID") ?? "local"}")).Dispose();
        await reporter.SendAsync(new JobReport(job.Attempt, JobState.Running));
        // No retry pipeline: the job waits out the catalog itself (RegisterAsync below), and building
        // the pipeline cost a short-lived process about a sixth of its CPU (JIT).
        var http = new HttpClient { BaseAddress = slice.CatalogUrl, Timeout = TimeSpan.FromSeconds(100) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", slice.CatalogToken);
        var catalog = new CatalogClient(http);

        // Inputs: each read from one of its replicas; their events add up to the output's.
        long events = job.Events;
        if (job.Inputs is { Length: > 0 } inputs)
        {
            events = 0;
            foreach (var input in inputs)
            {
                var replicas = await catalog.ListReplicasAsync(input, ct);
                var read = (false, $"{input} has no replica");
                foreach (var r in replicas.Where(r => r.State == ReplicaState.Available))
                    if ((read = await Xrootd.ReadAsync(r.Pfn, ct)).Item1) break;
                if (!read.Item1)
                {
                    await reporter.SendAsync(new JobReport(job.Attempt, JobState.Failed, FailureClass.Input, $"could not read {input}: {read.Item2}"));
                    return 1;
                }
            }
            var meta = await catalog.GetMetadataAsync(inputs, ct);
            events = meta.Results.Sum(i => i.Own?["nEvents"] is JsonValue v && v.TryGetValue<long>(out var n) ? n : 0);
        }

        // Simulate: the output's bytes follow from the seed, so a re-run makes the identical file.
        var name = OutputFile.Name(slice.Name, slice.DataLevel, job.Index);
        var spool = Path.Combine(slice.Spool, "outputs", slice.Name);
        Directory.CreateDirectory(spool);
        var local = Path.Combine(spool, name);
        var adler32 = OutputContent.Write(local, job.Seed, slice.OutputSize);

        // Upload to the destination, failing over to the others in order (DIRAC's failover).
        JobOutput? output = null;
        var errors = new List<string>();
        foreach (var se in slice.Ses)
        {
            var pfn = Xrootd.Pfn(se.BaseUrl, $"{slice.Dataset}/{name}");
            var (ok, error) = await Xrootd.UploadAsync(local, pfn, adler32, ct);
            if (ok) { output = new JobOutput(name, slice.OutputSize, adler32, se.Name, pfn); break; }
            errors.Add($"{se.Name}: {error}");
        }
        if (output is null)
        {
            await reporter.SendAsync(new JobReport(job.Attempt, JobState.Failed, FailureClass.Upload, string.Join("; ", errors)));
            return 1;
        }
        await reporter.SendAsync(new JobReport(job.Attempt, JobState.Uploading, Output: output), required: true);

        var file = OutputFile.Describe(slice.Metadata, slice.Dataset, slice.Site, job, events, output);
        var (registered, lfn, why) = await RegisterAsync(catalog, slice, job, file, output, ct);
        if (!registered)
        {
            await reporter.SendAsync(new JobReport(job.Attempt, JobState.Failed, FailureClass.Registration, why, output));
            return 1;
        }
        File.Delete(local);
        await reporter.SendAsync(new JobReport(job.Attempt, JobState.Registered, Output: output with { Lfn = lfn }), required: true);
        return 0;
    }

    /// <summary>
    /// Registers under the job's fixed idempotency key, waiting out an unreachable or overloaded
    /// catalog with backoff for up to the slice's patience. An earlier attempt's registration (the key
    /// answered with another body) counts as done; this attempt's copy is then removed if the
    /// catalog does not point at it.
    /// </summary>
    public static async Task<(bool Ok, string? Lfn, string? Why)> RegisterAsync(CatalogClient catalog, Slice slice, SliceJob job, NewFile file, JobOutput output, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow.AddSeconds(slice.RegistrationPatienceSeconds);
        var delay = TimeSpan.FromSeconds(1);
        while (true)
        {
            try
            {
                var response = await catalog.RegisterAsync([file], OutputFile.IdempotencyKey(slice.Production, job.Index, job.Generation), ct);
                var result = response.Results[0];
                if (result.Status != ItemStatus.Failed) return (true, result.Lfn, null);
                return (false, null, $"the catalog refused the output: {result.Error?.Message}");
            }
            catch (CatalogConflictException e) when (e.Code == ErrorCode.IdempotencyKeyReused)
            {
                var page = await catalog.QueryAsync(new QueryRequest($"name = '{output.Name}'", Under: slice.Dataset), ct);
                if (page.Rows.Count == 0) return (false, null, "the job's idempotency key was used for another output");
                var lfn = page.Rows[0].Path;
                var replicas = await catalog.ListReplicasAsync(lfn, ct);
                if (!replicas.Any(r => r.Pfn == output.Pfn)) await Xrootd.RemoveAsync(output.Pfn, ct);
                return (true, lfn, null);
            }
            catch (Exception e) when (Transient(e) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(delay, ct);
                delay = TimeSpan.FromSeconds(Math.Min(delay.TotalSeconds * 2, 30));
            }
            catch (Exception e) when (Transient(e))
            {
                return (false, null, $"the catalog did not answer for {slice.RegistrationPatienceSeconds} s: {e.Message}");
            }
        }
    }

    private static bool Transient(Exception e) => e is HttpRequestException or TimeoutException or CatalogOverloadedException or CatalogRateLimitedException
        || e is CatalogClientException { Status: >= 500 };

    /// <summary>Reports to the production service. Progress reports are best effort; the upload and the result are retried.</summary>
    private sealed class Reporter(Slice slice, SliceJob job) : IDisposable
    {
        private readonly HttpClient http = new() { BaseAddress = slice.ReportUrl, Timeout = TimeSpan.FromSeconds(10) };

        public async Task SendAsync(JobReport report, bool required = false)
        {
            var uri = $"api/v1/productions/{Uri.EscapeDataString(slice.Name)}/jobs/{job.Index}/report";
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = JsonContent.Create(report, JobJson.Default.JobReport) };
                    request.Headers.Add("X-Report-Key", slice.ReportKey);
                    using var response = await http.SendAsync(request);
                    if ((int)response.StatusCode < 500) return;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
                if (attempt >= (required ? 8 : 2)) return;
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt * 2, 10)));
            }
        }

        public void Dispose() => http.Dispose();
    }
}
