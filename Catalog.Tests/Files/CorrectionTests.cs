using Catalog.Client;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Files;

/// <summary>A data manager sets a file's status or corrects its size or checksum, per item, with an audited reason; refused items change nothing.</summary>
[Collection(CatalogCollection.Name)]
public class CorrectionTests(CatalogFixture fx)
{
    [Fact]
    public async Task Status_size_and_checksum_corrections_are_stored_counted_and_audited()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("correct");
        await fx.Client.RegisterAsync([TestData.File($"{dir}/a.root", se, size: 1000), TestData.File($"{dir}/b.root", se, size: 500)]);
        _ = await fx.Client.GetFileAsync($"{dir}/a.root"); // cached: the correction must replace what the cache holds
        var usageBefore = await fx.Client.UsageAsync(dir);
        var seBefore = await fx.Client.GetStorageElementAsync(se);

        var answer = await fx.Client.CorrectFilesAsync([
            new FileCorrection($"{dir}/a.root", "registered with the size of the unmerged output (GGUS 123456)", Size: 1750, Adler32: "0badcafe"),
            new FileCorrection($"{dir}/b.root", "disk server lost, no other replica", Status: FileStatus.Lost),
        ]);
        Assert.All(answer.Results, r => Assert.True(r.Ok, r.Error?.Message));
        Assert.Equal(["size", "adler32"], answer.Results[0].Changed);
        Assert.Equal(["status"], answer.Results[1].Changed);

        var a = await fx.Client.GetFileAsync($"{dir}/a.root");
        Assert.Equal((1750L, "0badcafe"), (a.Size, a.Adler32));
        Assert.Equal(FileStatus.Lost, (await fx.Client.GetFileAsync($"{dir}/b.root")).Status);
        // The counters follow the new size: the directory's, the SE's, and per SE.
        var usage = await fx.Client.UsageAsync(dir);
        Assert.Equal((usageBefore.Files, usageBefore.Bytes + 750), (usage.Files, usage.Bytes));
        Assert.Equal(usageBefore.PerStorageElement.Single(u => u.Se == se).Bytes + 750, usage.PerStorageElement.Single(u => u.Se == se).Bytes);
        Assert.Equal(seBefore.Bytes + 750, (await fx.Client.GetStorageElementAsync(se)).Bytes);

        // The same again changes nothing and says so.
        var again = await fx.Client.CorrectFilesAsync([new FileCorrection($"{dir}/b.root", "re-sent", Status: FileStatus.Lost)]);
        Assert.Equal((true, 0), (again.Results[0].Ok, again.Results[0].Changed!.Count));

        // Each change is audited with its reason, old and new values.
        IReadOnlyList<AuditRecord> records = [];
        for (var until = DateTime.UtcNow.AddSeconds(30); records.Count(r => r.Action == "file.correct") < 2 && DateTime.UtcNow < until; await Task.Delay(100))
            records = (await fx.Client.AuditAsync(path: dir)).Records;
        var sized = records.Single(r => r.Action == "file.correct" && r.Path == $"{dir}/a.root");
        Assert.Equal("1000 -> 1750", sized.Detail!["size"]!.GetValue<string>());
        Assert.Contains("GGUS 123456", sized.Detail["reason"]!.GetValue<string>());
        Assert.Equal("online -> lost", records.Single(r => r.Action == "file.correct" && r.Path == $"{dir}/b.root").Detail!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Bad_items_fail_alone_with_the_field_named_and_only_data_managers_correct()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("correct-bad");
        await fx.Client.RegisterAsync([TestData.File($"{dir}/a.root", se, size: 1000), TestData.File($"{dir}/ok.root", se, size: 10)]);

        var answer = await fx.Client.CorrectFilesAsync([
            new FileCorrection($"{dir}/a.root", null, Size: 5),
            new FileCorrection($"{dir}/a.root", "x", Size: -1),
            new FileCorrection($"{dir}/a.root", "x", Adler32: "xyz"),
            new FileCorrection($"{dir}/a.root", "x"),
            new FileCorrection($"{dir}/missing.root", "x", Size: 5),
            new FileCorrection($"{dir}/ok.root", "corrected", Size: 11),
        ]);
        Assert.Equal(["items[0].reason", "items[1].size", "items[2].adler32", "items[3]", "items[4].lfn"],
            answer.Results.Take(5).Select(r => r.Error!.Field));
        Assert.Equal(ErrorCode.NotFound, answer.Results[4].Error!.Code);
        Assert.True(answer.Results[5].Ok);
        var a = await fx.Client.GetFileAsync($"{dir}/a.root");
        Assert.Equal((1000L, "1a2b3c4d", FileStatus.Online), (a.Size, a.Adler32, a.Status));
        Assert.Equal(11, (await fx.Client.GetFileAsync($"{dir}/ok.root")).Size);

        var producer = fx.ClientWith(await fx.IssueTokenAsync("p-" + Guid.NewGuid().ToString("N")[..6], ["producer"], [$"storage.create:{dir}", $"storage.read:{dir}"]));
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => producer.CorrectFilesAsync([new FileCorrection($"{dir}/a.root", "mine", Status: FileStatus.Lost)]));
        Assert.Equal(FileStatus.Online, (await fx.Client.GetFileAsync($"{dir}/a.root")).Status);
    }

    [Fact]
    public async Task GraphQL_and_the_command_line_correct_alike()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("correct-doors");
        await fx.Client.RegisterAsync([TestData.File($"{dir}/g.root", se), TestData.File($"{dir}/c.root", se)]);
        using var graph = await fx.Client.GraphQLAsync("""
            mutation($items: [FileCorrectionInput!]!) { correctFiles(items: $items) { ok changed error { field } } }
            """, new { items = new object[] { new { lfn = $"{dir}/g.root", reason = "lost", status = "LOST" }, new { lfn = $"{dir}/g.root", reason = "", size = 1 } } });
        var results = graph.RootElement.GetProperty("data").GetProperty("correctFiles");
        Assert.Equal("status", results[0].GetProperty("changed")[0].GetString());
        Assert.Equal("items[1].reason", results[1].GetProperty("error").GetProperty("field").GetString());
        Assert.Equal(FileStatus.Lost, (await fx.Client.GetFileAsync($"{dir}/g.root")).Status);

        var output = new StringWriter();
        var error = new StringWriter();
        var console = new Catalog.Cli.CliConsole
        {
            Out = output, Error = error, In = new MemoryStream(), Interactive = false, Transport = fx.Factory.Server.CreateHandler(),
            Environment = name => name switch { "CATALOG_URL" => "http://localhost", "CATALOG_TOKEN" => fx.AdminToken, "HOME" => Path.GetTempPath(), _ => null },
        };
        Assert.Equal(0, await Catalog.Cli.CatalogCli.RunAsync(["correct", $"{dir}/c.root", "--adler32", "00c0ffee", "--reason", "checksum of the wrong file"], console));
        Assert.Contains($"{dir}/c.root: corrected adler32", output.ToString());
        Assert.Equal("00c0ffee", (await fx.Client.GetFileAsync($"{dir}/c.root")).Adler32);
        Assert.Equal(2, await Catalog.Cli.CatalogCli.RunAsync(["correct", $"{dir}/c.root", "--status", "gone", "--reason", "x"], console));
    }
}
