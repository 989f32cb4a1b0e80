using Catalog.Client;
using Catalog.Contracts;
using Catalog.Grid;
using Catalog.Production.Tests;

namespace Catalog.Transfer.Tests;

/// <summary>Rules executed as real third-party copies between the local grid's XRootD SEs.</summary>
[Collection(GridCollection.Name)]
public class TransferTests(GridFixture grid)
{
    public static string Unique(string name) => $"{name}{Guid.NewGuid():N}"[..(name.Length + 8)];

    /// <summary>Files written to <paramref name="se"/> for real and registered in a new dataset there; answers the LFNs.</summary>
    public async Task<List<string>> PlantDatasetAsync(string dataset, int files, string se = "KEK-DISK", int size = 64 * 1024, bool wrongChecksum = false)
    {
        try { await grid.Catalog.CreateDatasetAsync(new DatasetRequest(dataset, MaxFilesPerBlock: 1000)); }
        catch (CatalogConflictException) { }
        var lfns = new List<string>();
        var port = grid.Grid[$"SE_{se.Split('-')[0]}_PORT"];
        var batch = new List<NewFile>();
        for (var i = 0; i < files; i++)
        {
            var name = $"f{Guid.NewGuid():N}.root";
            var local = Path.Combine(grid.Dir, name);
            var adler = OutputContent.Write(local, Random.Shared.NextInt64(), size);
            var lfn = $"{dataset}/sub00/{name}";
            await GridFixture.RunAsync("xrdcp", ["--nopbar", "--posc", local, $"root://127.0.0.1:{port}/{lfn}"]);
            File.Delete(local);
            batch.Add(new NewFile(name, size, wrongChecksum ? "00000001" : adler, Dataset: dataset, Replicas: [new NewReplica(se)]));
            lfns.Add(lfn);
        }
        var registered = await grid.Catalog.RegisterAsync(batch);
        Assert.All(registered.Results, r => Assert.Null(r.Error));
        return lfns;
    }

    /// <summary>
    /// A new dataset of <paramref name="count"/> empty files registered with a replica on KEK-DISK
    /// (nothing written there: a rule over KEK-DISK finds its copies in place), <paramref name="perDirectory"/> per directory.
    /// </summary>
    private async Task<(string Dataset, List<string> Lfns)> RegisterOnlyAsync(string name, int count, int perDirectory)
    {
        var dataset = $"/belle/Raw/t/{Unique(name)}";
        await grid.Catalog.CreateDatasetAsync(new DatasetRequest(dataset, MaxFilesPerBlock: perDirectory));
        var lfns = Enumerable.Range(0, count).Select(i => $"{dataset}/sub{i / perDirectory}/{name}{i:D5}.root").ToList();
        await foreach (var r in grid.Catalog.RegisterManyAsync(lfns.Select(l => new NewFile(l, 0, "00000001", Replicas: [new NewReplica("KEK-DISK")])),
                           batchSize: Math.Min(count, 5000)))
            Assert.Null(r.Error);
        return (dataset, lfns);
    }

    /// <summary>One file registered in <paramref name="dataset"/> with a replica on KEK-DISK (nothing written there); answers its LFN.</summary>
    private async Task<string> RegisterOnKekAsync(string dataset, string name, string adler32)
    {
        var r = await grid.Catalog.RegisterAsync([new NewFile(name, 100, adler32, Dataset: dataset, Replicas: [new NewReplica("KEK-DISK")])]);
        Assert.Null(r.Results.Single().Error);
        return $"{dataset}/sub00/{name}";
    }

    public async Task<RuleInfo> WaitRuleAsync(long id, Func<RuleInfo, bool> until, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        RuleInfo rule;
        while (!until(rule = await grid.Transfer.GetRuleAsync(id).ContinueWith(t => t.Result.Rule)))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"rule {id} did not get there in {within.TotalSeconds} s: {System.Text.Json.JsonSerializer.Serialize(rule, CatalogJson.Options)}\n{grid.Tail("transfer.log")}");
            await Task.Delay(250);
        }
        return rule;
    }

    private async Task<string?> ChecksumOnAsync(string se, string lfn) =>
        await Xrootd.ChecksumAsync($"root://127.0.0.1:{grid.Grid[$"SE_{se.Split('-')[0]}_PORT"]}/{lfn}", default);

    [Fact]
    public async Task A_rule_on_a_dataset_copies_every_file_verified_and_registered_and_later_files_follow()
    {
        var dataset = $"/belle/Raw/t/{Unique("ds")}";
        var lfns = await PlantDatasetAsync(dataset, 5);
        var rule = await grid.Transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "region=europe"));
        Assert.Equal(5, rule.Files);
        Assert.Equal(["DESY-DISK"], rule.Targets);
        rule = await WaitRuleAsync(rule.Id, r => r.State == RuleState.Ok, TimeSpan.FromSeconds(90));
        Assert.Equal(5, rule.LocksOk);
        foreach (var lfn in lfns)
        {
            var file = await grid.Catalog.GetFileAsync(lfn);
            Assert.Equal(ReplicaState.Available, file.Replicas.Single(r => r.Se == "DESY-DISK").State);
            Assert.Equal(file.Adler32, await ChecksumOnAsync("DESY-DISK", lfn));
        }

        // Files added later are picked up from the change feed.
        var later = await PlantDatasetAsync(dataset, 2);
        await WaitRuleAsync(rule.Id, r => r.Files == 7 && r.State == RuleState.Ok, TimeSpan.FromSeconds(60));
        foreach (var lfn in later)
            Assert.Equal((await grid.Catalog.GetFileAsync(lfn)).Adler32, await ChecksumOnAsync("DESY-DISK", lfn));

        // The link's statistics count what went, each direction apart.
        var links = (await grid.Transfer.LinkStatsAsync()).Links;
        var link = links.Single(l => l.Source == "KEK-DISK" && l.Destination == "DESY-DISK");
        Assert.True(link.Files >= 7 && link.Bytes >= 7 * 64 * 1024 && link.BytesPerSecond > 0, $"{link}");
        Assert.Equal(links.Count, links.Select(l => (l.Source, l.Destination)).Distinct().Count());
    }

    [Fact]
    public async Task Overlapping_rules_copy_once_and_removal_deletes_only_what_no_other_rule_holds()
    {
        var dataset = $"/belle/Raw/t/{Unique("ov")}";
        var lfns = await PlantDatasetAsync(dataset, 4);
        var wide = await grid.Transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "DESY-DISK", LifetimeSeconds: 3600));
        var narrow = await grid.Transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 2, SeExpression: "tier=1"));
        await WaitRuleAsync(wide.Id, r => r.State == RuleState.Ok, TimeSpan.FromSeconds(90));
        await WaitRuleAsync(narrow.Id, r => r.State == RuleState.Ok, TimeSpan.FromSeconds(90));
        // One copy per file and SE, whatever number of rules wanted it.
        var copies = grid.Copies().Where(c => lfns.Any(l => c.Destination.EndsWith(l, StringComparison.Ordinal)) && c.Exit == 0).ToList();
        Assert.Equal(8, copies.Count);
        Assert.Equal(8, copies.Select(c => c.Destination).Distinct().Count());

        // The wide rule goes: its DESY replicas stay, the narrow rule holds them.
        await grid.Transfer.RemoveRuleAsync(wide.Id);
        var narrowOnly = await grid.Transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "PNNL-DISK"));
        await grid.Transfer.RemoveRuleAsync(narrow.Id);
        // Now DESY is held by no rule: its copies are deleted from the catalog and the SE; PNNL's stay (held); KEK's was never locked.
        // The reaper removes a batch from the catalog first, then each file from the SE: wait for both.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        foreach (var lfn in lfns)
            while (((await grid.Catalog.GetFileAsync(lfn)).Replicas.Any(r => r.Se == "DESY-DISK") || await ChecksumOnAsync("DESY-DISK", lfn) is not null)
                   && DateTime.UtcNow < deadline)
                await Task.Delay(250);
        foreach (var lfn in lfns)
        {
            var replicas = (await grid.Catalog.GetFileAsync(lfn)).Replicas.Select(r => r.Se).Order().ToArray();
            Assert.Equal(["KEK-DISK", "PNNL-DISK"], replicas);
            Assert.Null(await ChecksumOnAsync("DESY-DISK", lfn));
            Assert.NotNull(await ChecksumOnAsync("PNNL-DISK", lfn));
        }
        Assert.Equal(RuleState.Ok, (await grid.Transfer.GetRuleAsync(narrowOnly.Id)).Rule.State);
    }

    [Fact]
    public async Task A_rule_over_files_another_rule_knows_locks_each_file_once_beside_the_new_ones()
    {
        // Registered only, copies in place: the locks are OK at once and nothing is copied. Three
        // batches of evaluation (10,000 files each at most). The first rule's files (sub1) are
        // copied into the service's tables in bulk. The second rule's first batch mixes them with
        // new files: its copy meets known LFNs, so that batch is inserted with conflict checks, and
        // its later batches ask which LFNs are known before they copy the rest. The third rule meets
        // only known files.
        var (dataset, lfns) = await RegisterOnlyAsync("mix", 25_000, perDirectory: 5000);
        var part = await grid.Transfer.AddRuleAsync(new RuleSpec(Prefix: $"{dataset}/sub1", Copies: 1, SeExpression: "KEK-DISK"));
        var whole = await grid.Transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "KEK-DISK"));
        var again = await grid.Transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "KEK-DISK", Comment: "the same files again"));
        Assert.Equal((5000L, 5000L), (part.Files, part.LocksOk));
        Assert.Equal((25_000L, 25_000L), (whole.Files, whole.LocksOk));
        Assert.Equal((25_000L, 25_000L), (again.Files, again.LocksOk));

        await using var db = new Npgsql.NpgsqlConnection(grid.TransferDatabase);
        await db.OpenAsync();
        // One file row per LFN, and each rule's locks on exactly its files.
        Assert.Equal(25_000L, await Dapper.SqlMapper.ExecuteScalarAsync<long>(db,
            "select count(*) from file where lfn >= @dataset || '/' and lfn < @dataset || '0'", new { dataset }));
        foreach (var (rule, under) in new[] { (part.Id, $"{dataset}/sub1/"), (whole.Id, $"{dataset}/"), (again.Id, $"{dataset}/") })
        {
            var locked = (await Dapper.SqlMapper.QueryAsync<string>(db,
                "select f.lfn from lock l join file f on f.id = l.file_id where l.rule_id = @rule and l.se = 'KEK-DISK' and l.state = 0 order by 1", new { rule })).ToList();
            Assert.Equal(lfns.Where(l => l.StartsWith(under, StringComparison.Ordinal)).Order(StringComparer.Ordinal), locked);
        }
    }

    [Fact]
    public async Task A_rule_removed_while_it_is_evaluated_keeps_no_lock()
    {
        // 25,000 files (three batches of evaluation), registered only: evaluating reads the catalog, no SE.
        var (dataset, _) = await RegisterOnlyAsync("rm", 25_000, perDirectory: 5000);

        await using var db = new Npgsql.NpgsqlConnection(grid.TransferDatabase);
        await db.OpenAsync();
        var adding = grid.Transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "KEK-DISK"));
        // As soon as the first batch's locks are committed, the rule is removed between two batches.
        long? id = null;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (id is null)
        {
            Assert.True(DateTime.UtcNow < deadline, "the evaluation wrote no lock within 60 s");
            Assert.False(adding.IsCompleted, "the evaluation finished before the test could remove the rule");
            id = await Dapper.SqlMapper.QueryFirstOrDefaultAsync<long?>(db,
                "select r.id from rule r where r.selector = @dataset and exists (select 1 from lock l where l.rule_id = r.id)", new { dataset });
            if (id is null) await Task.Delay(20);
        }
        await grid.Transfer.RemoveRuleAsync(id.Value);
        // The add answers that its rule is gone; nothing it evaluated after the removal stays locked.
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => adding);
        Assert.Equal(0L, await Dapper.SqlMapper.ExecuteScalarAsync<long>(db, "select count(*) from lock where rule_id = @id", new { id }));
        Assert.Contains($"Rule {id} was removed while it was evaluated", File.ReadAllText(Path.Combine(grid.Dir, "transfer.log")));
    }

    [Fact]
    public async Task An_LFN_taken_again_after_its_file_was_removed_keeps_the_feed_going_with_the_new_files_checksum()
    {
        // A rule whose copies are in place (KEK-DISK): what is checked is what the service records.
        var dataset = $"/belle/Raw/t/{Unique("again")}";
        await grid.Catalog.CreateDatasetAsync(new DatasetRequest(dataset, MaxFilesPerBlock: 1000));
        Task<string> RegisterAsync(string name, string adler32) => RegisterOnKekAsync(dataset, name, adler32);
        // The feed may still be working through other tests' changes (25,000 registrations just before): 90 s, like the copies.
        var feedLag = TimeSpan.FromSeconds(90);
        var a = await RegisterAsync("a.root", "0000000a");
        var rule = await grid.Transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "KEK-DISK"));
        Assert.Equal(1, rule.Files);

        await using var db = new Npgsql.NpgsqlConnection(grid.TransferDatabase);
        await db.OpenAsync();
        async Task<Dictionary<string, string>> LockedAsync() =>
            (await Dapper.SqlMapper.QueryAsync<(string, string)>(db, "select f.lfn, f.adler32 from lock l join file f on f.id = l.file_id where l.rule_id = @id", new { id = rule.Id }))
            .ToDictionary(x => x.Item1, x => x.Item2);

        // a goes; b comes and is moved onto a's LFN; c comes after. Before: the move broke the LFN's
        // uniqueness and the feed stopped there (c never got its lock), and a file registered and
        // moved within one page of the feed was looked up by its old name and never locked.
        Assert.Equal(RemoveStatus.Removed, (await grid.Catalog.RemoveAsync([a])).Results.Single().Status);
        var b = await RegisterAsync("b.root", "0000000b");
        await grid.Catalog.MoveAsync(b, a);
        var c = await RegisterAsync("c.root", "0000000c");
        await WaitRuleAsync(rule.Id, r => r.Files == 2, feedLag);
        Assert.Equal(new Dictionary<string, string> { [a] = "0000000b", [c] = "0000000c" }, await LockedAsync());

        // a goes again and a new file is registered under its LFN: it is known by its own checksum.
        await grid.Catalog.RemoveAsync([a]);
        await WaitRuleAsync(rule.Id, r => r.Files == 1, feedLag);
        await RegisterAsync("a.root", "000000aa");
        await WaitRuleAsync(rule.Id, r => r.Files == 2, feedLag);
        Assert.Equal(new Dictionary<string, string> { [a] = "000000aa", [c] = "0000000c" }, await LockedAsync());
        // A directory moved into the dataset: its files get their locks too.
        var outside = $"/belle/Raw/t/{Unique("out")}";
        Assert.Null((await grid.Catalog.RegisterAsync([new NewFile($"{outside}/d.root", 100, "0000000d", Replicas: [new NewReplica("KEK-DISK")])])).Results.Single().Error);
        await grid.Catalog.MoveAsync(outside, $"{dataset}/moved");
        await WaitRuleAsync(rule.Id, r => r.Files == 3, feedLag);
        Assert.Equal("0000000d", (await LockedAsync())[$"{dataset}/moved/d.root"]);
        // The removed files' rows stay for their transfers' history, under names that say so.
        var rows = (await Dapper.SqlMapper.QueryAsync<(long, string, string)>(db, "select id, lfn, adler32 from file where lfn like @p order by id", new { p = a + "%" }))
            .Select(r => $"#{r.Item1} {r.Item2[dataset.Length..]} {r.Item3}").ToList();
        Assert.True(rows.Count(r => r.Contains(" (removed from the catalog, #")) == 2, string.Join("\n", rows) + "\n" + grid.Tail("transfer.log"));
    }

    [Fact]
    public async Task A_page_of_the_feed_read_again_after_a_crash_applies_its_removals_and_moves_once()
    {
        var dataset = $"/belle/Raw/t/{Unique("twice")}";
        await grid.Catalog.CreateDatasetAsync(new DatasetRequest(dataset, MaxFilesPerBlock: 1000));
        Task<string> RegisterAsync(string name, string adler32) => RegisterOnKekAsync(dataset, name, adler32);
        var a = await RegisterAsync("a.root", "0000000a");
        var rule = await grid.Transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "KEK-DISK"));
        await using var db = new Npgsql.NpgsqlConnection(grid.TransferDatabase);
        await db.OpenAsync();
        async Task<(long Id, long Tombstones)> RowOfAAsync() => (
            await Dapper.SqlMapper.ExecuteScalarAsync<long>(db, "select f.id from file f join lock l on l.file_id = f.id and l.rule_id = @id where f.lfn = @a", new { id = rule.Id, a }),
            await Dapper.SqlMapper.ExecuteScalarAsync<long>(db, "select count(*) from file where lfn like @p", new { p = a + " (removed from the catalog, #%" }));

        // The feed has read up to here once the rule has a file registered after it was made.
        await RegisterAsync("m.root", "0000000d");
        await WaitRuleAsync(rule.Id, r => r.Files == 2, TimeSpan.FromSeconds(90));

        // While the service is down, a goes, b comes and is moved onto a's LFN: the first page it reads when it is back.
        await grid.StopTransferAsync();
        var before = await Dapper.SqlMapper.ExecuteScalarAsync<string>(db, "select cursor from feed_cursor");
        Assert.Equal(RemoveStatus.Removed, (await grid.Catalog.RemoveAsync([a])).Results.Single().Status);
        await grid.Catalog.MoveAsync(await RegisterAsync("b.root", "0000000b"), a);
        await grid.StartTransferAsync();
        var deadline = DateTime.UtcNow.AddSeconds(90);
        (long Id, long Tombstones) applied;
        while ((applied = await RowOfAAsync()) is not (> 0, 1)) // the first a forgotten, the moved file locked under a
        {
            Assert.True(DateTime.UtcNow < deadline, $"the feed did not apply the removal and the move in 90 s: {applied}\n{grid.Tail("transfer.log")}");
            await Task.Delay(100);
        }
        deadline = DateTime.UtcNow.AddSeconds(90);
        while (await Dapper.SqlMapper.ExecuteScalarAsync<string>(db, "select cursor from feed_cursor") == before)
        {
            Assert.True(DateTime.UtcNow < deadline, "the feed did not store the page in 90 s");
            await Task.Delay(100);
        }

        // A crash before the cursor was stored: the page is read again from where it began. Its
        // removal of a must not be applied again: that forgot the file moved onto a since (new row, locks gone).
        await grid.StopTransferAsync();
        await Dapper.SqlMapper.ExecuteAsync(db, "update feed_cursor set cursor = @before", new { before });
        await grid.StartTransferAsync();
        deadline = DateTime.UtcNow.AddSeconds(90);
        while (await Dapper.SqlMapper.ExecuteScalarAsync<string>(db, "select cursor from feed_cursor") == before)
        {
            Assert.True(DateTime.UtcNow < deadline, "the feed did not read the page again in 90 s");
            await Task.Delay(100);
        }
        Assert.Equal(applied, await RowOfAAsync());
        Assert.Equal((2L, 2L), await grid.Transfer.GetRuleAsync(rule.Id).ContinueWith(t => (t.Result.Rule.Files, t.Result.Rule.LocksOk)));
        // The replica the first a lost with it is not copied again for the file now called a
        // (removals and moves are applied before lost replicas, so it was, on every reading).
        Assert.Equal(0L, await Dapper.SqlMapper.ExecuteScalarAsync<long>(db,
            "select count(*) from transfer t join file f on f.id = t.file_id where f.lfn = @a", new { a }));
    }

    [Fact]
    public async Task A_file_registered_and_removed_within_a_page_is_not_confused_with_the_file_moved_onto_its_LFN_in_the_next()
    {
        var dataset = $"/belle/Raw/t/{Unique("split")}";
        await grid.Catalog.CreateDatasetAsync(new DatasetRequest(dataset, MaxFilesPerBlock: 1000));
        var rule = await grid.Transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "KEK-DISK"));
        await RegisterOnKekAsync(dataset, "m.root", "0000000d"); // the feed has read up to here once the rule has it
        await WaitRuleAsync(rule.Id, r => r.Files == 1, TimeSpan.FromSeconds(90));

        // While the service is down: a comes and goes, b comes, 2,000 changes elsewhere, b is moved
        // onto a. The feed's pages hold 2,000 changes: a's coming and going are in the first, the move
        // in the second. Before, the first page asked the catalog about a after applying its removal,
        // found the file the move had put there since, and took it in; the move then set that row
        // aside as a stale file and took the file in again.
        await grid.StopTransferAsync();
        var a = await RegisterOnKekAsync(dataset, "a.root", "0000000a");
        Assert.Equal(RemoveStatus.Removed, (await grid.Catalog.RemoveAsync([a])).Results.Single().Status);
        var b = await RegisterOnKekAsync(dataset, "b.root", "0000000b");
        await RegisterOnlyAsync("filler", 1000, perDirectory: 1000); // 2,000 changes: registered, replica added
        await grid.Catalog.MoveAsync(b, a);
        await grid.StartTransferAsync();
        await WaitRuleAsync(rule.Id, r => r.Files == 2 && r.LocksOk == 2, TimeSpan.FromSeconds(90));

        await using var db = new Npgsql.NpgsqlConnection(grid.TransferDatabase);
        await db.OpenAsync();
        var rows = (await Dapper.SqlMapper.QueryAsync<(string, string)>(db, "select lfn, adler32 from file where lfn like @p order by id", new { p = a + "%" })).ToList();
        Assert.Equal([(a, "0000000b")], rows); // one row, the moved file's, and none set aside
    }

    [Fact]
    public async Task A_replica_lost_and_registered_again_before_the_feed_sees_it_is_not_copied_again()
    {
        var dataset = $"/belle/Raw/t/{Unique("back")}";
        await grid.Catalog.CreateDatasetAsync(new DatasetRequest(dataset, MaxFilesPerBlock: 1000));
        var x = await RegisterOnKekAsync(dataset, "x.root", "0000000a");
        var rule = await grid.Transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "KEK-DISK"));
        await RegisterOnKekAsync(dataset, "m.root", "0000000d"); // the feed has read up to here once the rule has it
        await WaitRuleAsync(rule.Id, r => r.Files == 2, TimeSpan.FromSeconds(90));

        // While the service is down, x's only replica is removed and registered again: one page
        // says it was lost, then that it came back. Before, the loss was acted on all the same (the
        // lock back to replicating, a copy queued onto the SE that has it).
        await grid.StopTransferAsync();
        Assert.Null((await grid.Catalog.RemoveReplicasAsync([new ReplicaRef(x, "KEK-DISK")])).Results.Single().Error);
        Assert.Null((await grid.Catalog.AddReplicasAsync([new ReplicaRef(x, "KEK-DISK")])).Results.Single().Error);
        await RegisterOnKekAsync(dataset, "n.root", "0000000e");
        await grid.StartTransferAsync();
        await WaitRuleAsync(rule.Id, r => r.Files == 3, TimeSpan.FromSeconds(90));

        Assert.Equal(3L, (await grid.Transfer.GetRuleAsync(rule.Id)).Rule.LocksOk);
        await using var db = new Npgsql.NpgsqlConnection(grid.TransferDatabase);
        await db.OpenAsync();
        Assert.Equal(0L, await Dapper.SqlMapper.ExecuteScalarAsync<long>(db,
            "select count(*) from transfer t join file f on f.id = t.file_id where f.lfn = @x", new { x }));
    }

    [Fact]
    public async Task An_expired_rule_deletes_its_copies_but_never_a_files_last_replica()
    {
        var dataset = $"/belle/Raw/t/{Unique("ex")}";
        var lfns = await PlantDatasetAsync(dataset, 2);
        var rule = await grid.Transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 2, SeExpression: "KEK-DISK|DESY-DISK", LifetimeSeconds: 15));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (lfns.Any(l => grid.Catalog.GetFileAsync(l).Result.Replicas.Count(r => r.State == ReplicaState.Available) < 2) && DateTime.UtcNow < deadline) await Task.Delay(250);
        Assert.All(lfns, l => Assert.Equal(2, grid.Catalog.GetFileAsync(l).Result.Replicas.Count));
        // Both replicas were locked; with the rule expired, one goes and the last stays.
        while ((await grid.Transfer.ListRulesAsync()).Any(r => r.Id == rule.Id) && DateTime.UtcNow < deadline) await Task.Delay(250);
        while (lfns.Any(l => grid.Catalog.GetFileAsync(l).Result.Replicas.Count > 1) && DateTime.UtcNow < deadline) await Task.Delay(250);
        foreach (var lfn in lfns) Assert.Single((await grid.Catalog.GetFileAsync(lfn)).Replicas);
    }

    [Fact]
    public async Task An_SE_renamed_in_the_catalog_stays_the_rules_target_under_its_new_name()
    {
        var dataset = $"/belle/Raw/t/{Unique("ren")}";
        var first = (await PlantDatasetAsync(dataset, 1)).Single();
        var rule = await grid.Transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "PNNL-DISK"));
        await WaitRuleAsync(rule.Id, r => r.State == RuleState.Ok, TimeSpan.FromSeconds(60));
        const string renamed = "PNNL-DISK-RENAMED";
        await grid.Catalog.RenameStorageElementAsync("PNNL-DISK", renamed);
        try
        {
            // The service follows the rename from the feed: the rule's target, its lock and what comes next.
            await WaitRuleAsync(rule.Id, r => r.Targets.SequenceEqual([renamed]), TimeSpan.FromSeconds(30));
            var later = (await PlantDatasetAsync(dataset, 1)).Single();
            var info = await WaitRuleAsync(rule.Id, r => r.Files == 2 && r.State == RuleState.Ok, TimeSpan.FromSeconds(60));
            Assert.Equal(2, info.LocksOk);
            foreach (var lfn in new[] { first, later })
                Assert.Equal(ReplicaState.Available, (await grid.Catalog.GetFileAsync(lfn)).Replicas.Single(r => r.Se == renamed).State);
            Assert.Equal((await grid.Catalog.GetFileAsync(later)).Adler32, await ChecksumOnAsync("PNNL-DISK", later)); // the same storage, by its port
        }
        finally
        {
            await grid.Catalog.RenameStorageElementAsync(renamed, "PNNL-DISK");
            await WaitRuleAsync(rule.Id, r => r.Targets.SequenceEqual(["PNNL-DISK"]), TimeSpan.FromSeconds(30));
            await grid.Transfer.RemoveRuleAsync(rule.Id);
        }
    }

    [Fact]
    public async Task A_corrupted_copy_is_detected_deleted_and_never_registered_and_a_corrected_checksum_lets_it_land()
    {
        var dataset = $"/belle/Raw/t/{Unique("bad")}";
        var lfn = (await PlantDatasetAsync(dataset, 1, wrongChecksum: true)).Single();
        var rule = await grid.Transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "PNNL-DISK"));
        rule = await WaitRuleAsync(rule.Id, r => r.State == RuleState.Stuck, TimeSpan.FromSeconds(60));
        var detail = await grid.Transfer.GetRuleAsync(rule.Id);
        Assert.Contains("checksum mismatch", detail.Stuck.Single().Reason);
        Assert.Contains("checksum mismatch", rule.Reason);
        Assert.DoesNotContain((await grid.Catalog.GetFileAsync(lfn)).Replicas, r => r.Se == "PNNL-DISK");
        Assert.Null(await ChecksumOnAsync("PNNL-DISK", lfn));

        // The catalog's checksum was the wrong one: a data manager corrects it, the service learns it
        // from the change feed, verifies the next copy against the new value, and it lands.
        var real = (await ChecksumOnAsync("KEK-DISK", lfn))!;
        await grid.Catalog.CorrectFilesAsync([new FileCorrection(lfn, "registered with a wrong checksum", Adler32: real)]);
        await WaitRuleAsync(rule.Id, r => r.State == RuleState.Ok, TimeSpan.FromSeconds(60));
        Assert.Contains((await grid.Catalog.GetFileAsync(lfn)).Replicas, r => r.Se == "PNNL-DISK" && r.State == ReplicaState.Available);
        Assert.Equal(real, await ChecksumOnAsync("PNNL-DISK", lfn));
        await grid.Transfer.RemoveRuleAsync(rule.Id);
    }

    [Fact]
    public async Task An_SE_stopped_mid_transfer_leads_to_retries_and_completion_when_it_returns()
    {
        var dataset = $"/belle/Raw/t/{Unique("down")}";
        var lfns = await PlantDatasetAsync(dataset, 3, size: 48 * 1024 * 1024);
        var failuresBefore = (await grid.Transfer.LinkStatsAsync()).Links.SingleOrDefault(l => l.Source == "KEK-DISK" && l.Destination == "PNNL-DISK")?.Failures ?? 0;
        var rule = await grid.Transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "region=america"));
        // The SE goes down while a copy of the rule runs (the witness has seen it start).
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!grid.Copies().Any(c => c.Exit is null && lfns.Any(l => c.Destination.EndsWith(l, StringComparison.Ordinal))) && DateTime.UtcNow < deadline) await Task.Delay(20);
        grid.StopSe("PNNL-DISK");
        try
        {
            deadline = DateTime.UtcNow.AddSeconds(60);
            while ((await grid.Transfer.ListTransfersAsync(rule: rule.Id)).Transfers.All(t => t.Attempts < 2) && DateTime.UtcNow < deadline) await Task.Delay(250);
            var failing = (await grid.Transfer.ListTransfersAsync(rule: rule.Id)).Transfers;
            Assert.Contains(failing, t => t.State != TransferState.Done && t.Attempts >= 2 && t.Reason is { Length: > 0 });
            Assert.True((await grid.Transfer.LinkStatsAsync()).Links.Single(l => l.Source == "KEK-DISK" && l.Destination == "PNNL-DISK").Failures > failuresBefore);
        }
        finally
        {
            await grid.StartGridAsync();
        }
        var done = await WaitRuleAsync(rule.Id, r => r.State == RuleState.Ok, TimeSpan.FromSeconds(90));
        foreach (var lfn in lfns) Assert.Equal((await grid.Catalog.GetFileAsync(lfn)).Adler32, await ChecksumOnAsync("PNNL-DISK", lfn));
        Assert.Equal(3, done.LocksOk);
    }

    [Fact]
    public async Task Bad_rules_are_refused_naming_the_field_and_store_nothing()
    {
        var dataset = $"/belle/Raw/t/{Unique("ref")}";
        await PlantDatasetAsync(dataset, 1);
        var before = (await grid.Transfer.ListRulesAsync()).Count;
        foreach (var (spec, field) in new (RuleSpec, string)[]
        {
            (new RuleSpec(Copies: 1, SeExpression: "DESY-DISK"), "dataset"),
            (new RuleSpec(Dataset: dataset, Prefix: dataset, Copies: 1, SeExpression: "DESY-DISK"), "prefix"),
            (new RuleSpec(Dataset: dataset, Copies: 0, SeExpression: "DESY-DISK"), "copies"),
            (new RuleSpec(Dataset: dataset, Copies: 3, SeExpression: "tier=1"), "copies"),
            (new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "tier=1&continent=asia"), "seExpression"),
            (new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "NOWHERE-DISK"), "seExpression"),
            (new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "tier=7"), "seExpression"),
            (new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "(tier=1"), "seExpression"),
            (new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "DESY-DISK", LifetimeSeconds: -5), "lifetimeSeconds"),
            (new RuleSpec(Dataset: dataset + "-missing", Copies: 1, SeExpression: "DESY-DISK"), "dataset"),
            (new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "DESY-DISK", Priority: 9), "priority"),
        })
        {
            var refused = await Assert.ThrowsAsync<CatalogValidationException>(() => grid.Transfer.AddRuleAsync(spec));
            Assert.Equal(field, refused.Field);
        }
        Assert.Equal(before, (await grid.Transfer.ListRulesAsync()).Count);
        await Assert.ThrowsAsync<CatalogUnauthorizedException>(() => TransferClient.Create(grid.TransferUrl, null).ListRulesAsync());
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => grid.Transfer.GetRuleAsync(999_999));
        // A reader may look, but neither add rules over what it cannot modify nor run consistency checks.
        var token = (await grid.Catalog.IssueTokenAsync(new TokenRequest("transfer-reader", ["reader"], ["storage.read:/belle"], null, 3600))).Token;
        var reader = TransferClient.Create(grid.TransferUrl, token);
        Assert.NotNull(await reader.ListRulesAsync());
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => reader.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "DESY-DISK")));
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => reader.CheckConsistencyAsync("DESY-DISK"));
        Assert.Equal(before, (await grid.Transfer.ListRulesAsync()).Count);
    }

    [Fact]
    public async Task A_rule_over_a_metadata_query_takes_matching_new_files_from_the_feed_within_seconds()
    {
        var dataset = $"/belle/Raw/t/{Unique("query")}";
        var small = await PlantDatasetAsync(dataset, 2, size: 64 * 1024);
        var rule = await grid.Transfer.AddRuleAsync(new RuleSpec(Query: "size > 100000", Under: dataset, Copies: 1, SeExpression: "DESY-DISK"));
        Assert.Equal(0, rule.Files);

        // Files that match arrive; the ten-minute re-evaluation is far away, the feed is not.
        var big = await PlantDatasetAsync(dataset, 2, size: 150_000);
        rule = await WaitRuleAsync(rule.Id, r => r.Files == 2 && r.State == RuleState.Ok, TimeSpan.FromSeconds(60));
        foreach (var lfn in big)
            Assert.Equal(ReplicaState.Available, (await grid.Catalog.GetFileAsync(lfn)).Replicas.Single(r => r.Se == "DESY-DISK").State);
        foreach (var lfn in small)
            Assert.DoesNotContain((await grid.Catalog.GetFileAsync(lfn)).Replicas, r => r.Se == "DESY-DISK");
    }

    [Fact]
    public async Task A_consistency_check_finds_planted_dark_and_lost_files_and_repairs_them()
    {
        var dataset = $"/belle/Raw/t/{Unique("cc")}";
        var lfns = await PlantDatasetAsync(dataset, 3, se: "DESY-DISK");
        var rule = await grid.Transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "DESY-DISK"));
        // Dark: on the SE, in no catalog entry. Lost: the catalog's replica whose file is gone from the SE.
        var dark = $"{dataset}/sub00/dark{Guid.NewGuid():N}.root";
        var local = Path.Combine(grid.Dir, "dark.bin");
        OutputContent.Write(local, 7, 1024);
        await GridFixture.RunAsync("xrdcp", ["--nopbar", local, $"root://127.0.0.1:{grid.Grid["SE_DESY_PORT"]}/{dark}"]);
        // A second copy at KEK first, so the lost one can come back from there.
        var kek = await grid.Transfer.AddRuleAsync(new RuleSpec(Dataset: dataset, Copies: 1, SeExpression: "KEK-DISK"));
        await WaitRuleAsync(kek.Id, r => r.State == RuleState.Ok, TimeSpan.FromSeconds(60));
        File.Delete(Path.Combine(grid.SeData("DESY-DISK"), lfns[0].TrimStart('/')));

        // Corrupt: the same size, another content (silent corruption only a checksum sees).
        var corrupt = Path.Combine(grid.SeData("DESY-DISK"), lfns[1].TrimStart('/'));
        var bytes = await File.ReadAllBytesAsync(corrupt);
        bytes[0] ^= 0xFF;
        await File.WriteAllBytesAsync(corrupt, bytes);

        var report = await grid.Transfer.CheckConsistencyAsync("DESY-DISK");
        Assert.Contains(dark, report.Dark);
        Assert.Equal(lfns[0], Assert.Single(report.Lost, l => l.Lfn.StartsWith(dataset, StringComparison.Ordinal)).Lfn);
        Assert.DoesNotContain(report.Dark, d => lfns.Contains(d));
        Assert.Equal(0, report.ChecksumsCompared);

        // The deeper check asks the SE for each file's Adler-32 and finds the corrupted one too.
        var deep = await grid.Transfer.CheckConsistencyAsync("DESY-DISK", new ConsistencyRequest(Checksums: true));
        var found = deep.Lost.Where(l => l.Lfn.StartsWith(dataset, StringComparison.Ordinal)).OrderBy(l => l.Lfn, StringComparer.Ordinal).ToList();
        Assert.Equal(lfns.Take(2).Order(StringComparer.Ordinal), found.Select(l => l.Lfn));
        Assert.Contains("Adler-32", found.Single(l => l.Lfn == lfns[1]).Reason);
        Assert.True(deep.ChecksumsCompared >= 1);
        await Assert.ThrowsAsync<CatalogValidationException>(() => grid.Transfer.CheckConsistencyAsync("DESY-DISK", new ConsistencyRequest(ChecksumSample: 0)));

        // The repair: the dark file goes, the lost replica is marked bad, and the rule has it copied back from KEK.
        var repaired = await grid.Transfer.CheckConsistencyAsync("DESY-DISK", new ConsistencyRequest(Repair: true, DarkGraceSeconds: 0));
        Assert.Equal(1, repaired.LostMarkedBad);
        Assert.True(repaired.DarkDeleted >= 1);
        Assert.Null(await ChecksumOnAsync("DESY-DISK", dark));
        await WaitRuleAsync(rule.Id, r => r.State == RuleState.Ok, TimeSpan.FromSeconds(60));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await grid.Catalog.GetFileAsync(lfns[0])).Replicas.SingleOrDefault(r => r.Se == "DESY-DISK")?.State != ReplicaState.Available && DateTime.UtcNow < deadline)
            await Task.Delay(250);
        Assert.Equal((await grid.Catalog.GetFileAsync(lfns[0])).Adler32, await ChecksumOnAsync("DESY-DISK", lfns[0]));
    }
}
