using System.Text;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;
using Npgsql;

namespace Catalog.Tests.Changes;

[Collection(CatalogCollection.Name)]
public class ChangeFeedTests(CatalogFixture fx)
{
    /// <summary>Every page from <paramref name="after"/> until an empty one.</summary>
    private async Task<(List<Change> Changes, string Next)> DrainAsync(string prefix, string? after, CatalogClient? client = null)
    {
        var all = new List<Change>();
        while (true)
        {
            var page = await (client ?? fx.Client).ChangesAsync(after, prefix, limit: 3);
            after = page.Next;
            if (page.Changes.Count == 0) return (all, after);
            all.AddRange(page.Changes);
        }
    }

    [Fact]
    public async Task Every_kind_of_change_is_reported_in_order_with_its_file_and_SE()
    {
        var (kek, desy) = (await fx.NewStorageElementAsync("KEK"), await fx.NewStorageElementAsync("DESY"));
        var dir = TestData.Dir("feed");
        var start = (await fx.Client.ChangesAsync("latest")).Next;
        await fx.Client.CreateDatasetAsync(new DatasetRequest(dir + "/ds", MaxFilesPerBlock: 10));
        var guid = Guid.NewGuid();
        await fx.Client.RegisterAsync([TestData.File("a.root", kek, size: 77, adler32: "0000abcd", guid: guid) with { Dataset = dir + "/ds" }]);
        await fx.Client.AddReplicasAsync([new ReplicaRef(dir + "/ds/sub00/a.root", desy, State: ReplicaState.BeingCopied)]);
        await fx.Client.SetReplicaStateAsync([new ReplicaRef(dir + "/ds/sub00/a.root", desy, State: ReplicaState.Available)]);
        await fx.Client.RemoveReplicasAsync([new ReplicaRef(dir + "/ds/sub00/a.root", kek)]);
        await fx.Client.RegisterAsync([TestData.File(dir + "/loose/b.root", kek)]);
        await fx.Client.MoveAsync(dir + "/loose/b.root", dir + "/loose/c.root");
        await fx.Client.MoveAsync(dir + "/loose", dir + "/moved");
        await fx.Client.RemoveAsync([dir + "/moved/c.root"]);

        var (changes, _) = await DrainAsync(dir, start);
        Assert.Equal([
            ChangeKind.FileRegistered, ChangeKind.ReplicaAdded, ChangeKind.ReplicaAdded, ChangeKind.ReplicaStateChanged, ChangeKind.ReplicaRemoved,
            ChangeKind.FileRegistered, ChangeKind.ReplicaAdded, ChangeKind.FileMoved, ChangeKind.DirectoryMoved, ChangeKind.ReplicaRemoved, ChangeKind.FileRemoved,
        ], changes.Select(c => c.Kind));
        var registered = changes[0];
        Assert.Equal((dir + "/ds/sub00/a.root", dir + "/ds", guid, 77L, "0000abcd"),
            (registered.Lfn, registered.Dataset, registered.Guid, registered.Size, registered.Adler32));
        Assert.Equal((kek, ReplicaState.Available), (changes[1].Se, changes[1].State));
        Assert.Equal((desy, ReplicaState.BeingCopied), (changes[2].Se, changes[2].State));
        Assert.Equal((desy, ReplicaState.Available), (changes[3].Se, changes[3].State));
        Assert.Equal(kek, changes[4].Se);
        Assert.Null(changes[5].Dataset);
        Assert.Equal((dir + "/loose/c.root", dir + "/loose/b.root"), (changes[7].Lfn, changes[7].OldLfn));
        Assert.Equal((dir + "/moved", dir + "/loose"), (changes[8].Lfn, changes[8].OldLfn));
        Assert.Equal(dir + "/moved/c.root", changes[10].Lfn);

        // A prefix keeps what is under it only; a neighbour sharing the name's start is not under it.
        Assert.Equal(5, (await DrainAsync(dir + "/ds", start)).Changes.Count);
        Assert.Empty((await DrainAsync(dir + "/d", start)).Changes);
    }

    [Fact]
    public async Task A_correction_is_reported_with_the_new_values_and_a_metadata_write_is_not()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("corrected");
        await fx.Client.CreateDatasetAsync(new DatasetRequest(dir + "/ds"));
        var lfn = (await fx.Client.RegisterAsync([TestData.File("a.root", se, size: 10, adler32: "0000000a") with { Dataset = dir + "/ds" }])).Results[0].Lfn!;
        var start = (await fx.Client.ChangesAsync("latest")).Next;

        await fx.Client.SetMetadataAsync([new MetadataWrite(lfn, new System.Text.Json.Nodes.JsonObject { ["note"] = "x" })]);
        await fx.Client.CorrectFilesAsync([new FileCorrection(lfn, "registered with the wrong checksum", Size: 11, Adler32: "0000000b")]);
        await fx.Client.CorrectFilesAsync([new FileCorrection(lfn, "the same again")]);                                // changes nothing
        await fx.Client.CorrectFilesAsync([new FileCorrection(lfn, "tape copy lost", Status: FileStatus.Lost)]);

        var (changes, _) = await DrainAsync(dir, start);
        Assert.Equal([ChangeKind.FileCorrected, ChangeKind.FileCorrected], changes.Select(c => c.Kind));
        Assert.All(changes, c => Assert.Equal((lfn, dir + "/ds", 11L, "0000000b"), (c.Lfn, c.Dataset, c.Size, c.Adler32)));
    }

    [Fact]
    public async Task An_SE_rename_is_reported_to_unfiltered_readers_with_both_names()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("se-renamed");
        await fx.Client.RegisterAsync([TestData.File(dir + "/a.root", se)]);
        var start = (await fx.Client.ChangesAsync("latest")).Next;
        var to = se + "-R";
        // A long poll already waiting when the rename comes answers it with the SE's new name (it once
        // named SEs as they were when the poll began: the old name twice).
        var poll = fx.Client.ChangesAsync(start, limit: 1000, wait: TimeSpan.FromSeconds(20));
        await Task.Delay(300);
        await fx.Client.RenameStorageElementAsync(se, to);

        var first = await poll;
        var all = new List<Change>(first.Changes);
        for (var (cursor, until) = (first.Next, DateTime.UtcNow.AddSeconds(10)); DateTime.UtcNow < until && all.All(c => c.Kind != ChangeKind.StorageElementRenamed);)
        {
            var page = await fx.Client.ChangesAsync(cursor, limit: 1000);
            all.AddRange(page.Changes);
            cursor = page.Next;
        }
        var renamed = Assert.Single(all, c => c.Kind == ChangeKind.StorageElementRenamed && c.OldSe == se);
        Assert.Equal((to, ""), (renamed.Se, renamed.Lfn));
        Assert.Empty((await DrainAsync(dir, start)).Changes);   // a path-filtered reader does not see it
    }

    [Fact]
    public async Task A_transaction_that_commits_late_is_not_skipped_by_a_cursor_handed_out_before()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("late");
        // A and B write into directories of their own: in one directory B's usage counter could share
        // A's shard row and wait for A's commit (1 time in 16), which is not what this test is about.
        await fx.Client.MakeDirectoryAsync(dir + "/a", parents: true);
        await fx.Client.MakeDirectoryAsync(dir + "/b", parents: true);
        var start = (await fx.Client.ChangesAsync("latest")).Next;

        // A writes first (so its transaction is older) and stays open; B commits meanwhile.
        await using var conn = new NpgsqlConnection(fx.PostgresConnectionString);
        await conn.OpenAsync();
        await using var a = await conn.BeginTransactionAsync();
        await using (var insert = new NpgsqlCommand("""
            insert into file (dir_id, name, guid, size, adler32, owner, grp)
            select id, 'a.root', gen_random_uuid(), 1, 1, 'admin', 'admin' from directory where path = $1
            """, conn, a))
        {
            insert.Parameters.AddWithValue(dir + "/a");
            Assert.Equal(1, await insert.ExecuteNonQueryAsync());
        }
        await fx.Client.RegisterAsync([TestData.File(dir + "/b/b.root", se)]);

        // B is held back while A runs: a reader that saw B and moved on would never see A.
        var (whileOpen, cursor) = await DrainAsync(dir, start);
        Assert.Empty(whileOpen);

        await a.CommitAsync();
        var (afterCommit, _) = await DrainAsync(dir, cursor);
        Assert.Equal([dir + "/a/a.root", dir + "/b/b.root", dir + "/b/b.root"], afterCommit.Select(c => c.Lfn));
    }

    [Fact]
    public async Task A_rolled_back_write_reports_nothing()
    {
        var dir = TestData.Dir("rollback");
        await fx.Client.MakeDirectoryAsync(dir, parents: true);
        var start = (await fx.Client.ChangesAsync("latest")).Next;
        await using (var conn = new NpgsqlConnection(fx.PostgresConnectionString))
        {
            await conn.OpenAsync();
            await using var tx = await conn.BeginTransactionAsync();
            await using var insert = new NpgsqlCommand("""
                insert into file (dir_id, name, guid, size, adler32, owner, grp)
                select id, 'gone.root', gen_random_uuid(), 1, 1, 'admin', 'admin' from directory where path = $1
                """, conn, tx);
            insert.Parameters.AddWithValue(dir);
            await insert.ExecuteNonQueryAsync();
            await tx.RollbackAsync();
        }
        Assert.Empty((await DrainAsync(dir, start)).Changes);
    }

    [Fact]
    public async Task A_long_poll_answers_as_soon_as_a_change_comes_and_an_empty_page_when_none_does()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("poll");
        await fx.Client.MakeDirectoryAsync(dir, parents: true);
        var start = (await fx.Client.ChangesAsync("latest")).Next;

        var quiet = await fx.Client.ChangesAsync(start, dir, wait: TimeSpan.FromSeconds(0.5));
        Assert.Empty(quiet.Changes);

        var poll = fx.Client.ChangesAsync(quiet.Next, dir, wait: TimeSpan.FromSeconds(30));
        await Task.Delay(300);
        await fx.Client.RegisterAsync([TestData.File(dir + "/x.root", se)]);
        var page = await poll;
        Assert.Equal(dir + "/x.root", page.Changes[0].Lfn);
    }

    [Fact]
    public async Task Bad_requests_and_callers_are_refused_naming_the_field()
    {
        var invalid = await Assert.ThrowsAsync<CatalogValidationException>(() => fx.Client.ChangesAsync(after: "not-a-cursor!"));
        Assert.Equal("after", invalid.Field);
        Assert.Equal("limit", (await Assert.ThrowsAsync<CatalogValidationException>(() => fx.Client.ChangesAsync(limit: 0))).Field);
        Assert.Equal("wait", (await Assert.ThrowsAsync<CatalogValidationException>(() => fx.Client.ChangesAsync(wait: TimeSpan.FromMinutes(5)))).Field);
        Assert.Equal("prefix", (await Assert.ThrowsAsync<CatalogValidationException>(() => fx.Client.ChangesAsync(prefix: "/elsewhere/x"))).Field);

        await Assert.ThrowsAsync<CatalogUnauthorizedException>(() => fx.ClientWith(null).ChangesAsync());
        // The feed shows entries whatever the directory modes say: data managers only, within their scope.
        var reader = fx.ClientWith(await fx.IssueTokenAsync("feed-reader", ["reader"], ["storage.read:/belle"]));
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => reader.ChangesAsync(prefix: "/belle"));
        var manager = fx.ClientWith(await fx.IssueTokenAsync("feed-manager", ["data-manager"], ["storage.read:/belle/t"]));
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => manager.ChangesAsync(prefix: "/belle"));
        Assert.NotNull((await manager.ChangesAsync("latest", "/belle/t")).Next);
    }

    [Fact]
    public async Task A_cursor_older_than_the_retention_is_answered_gone_and_the_head_still_works()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("retention");
        var old = (await fx.Client.ChangesAsync("latest")).Next;
        await fx.Client.RegisterAsync([TestData.File(dir + "/r.root", se)]);

        await using (var conn = new NpgsqlConnection(fx.PostgresConnectionString))
        {
            await conn.OpenAsync();
            // Retention with everything written so far older than it.
            Assert.True(await Catalog.Storage.ChangeStore.PurgeAsync(conn, DateTime.UtcNow.AddMinutes(1), 1_000_000, default) > 0);
        }
        var gone = await Assert.ThrowsAsync<CatalogClientException>(() => fx.Client.ChangesAsync(old, dir));
        Assert.Equal((ErrorCode.ChangesExpired, 410, "after"), (gone.Code, gone.Status, gone.Field));

        var head = (await fx.Client.ChangesAsync("latest")).Next;
        await fx.Client.RegisterAsync([TestData.File(dir + "/s.root", se)]);
        Assert.Equal(dir + "/s.root", (await DrainAsync(dir, head)).Changes[0].Lfn);
    }
}
