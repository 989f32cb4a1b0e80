using Catalog.Client;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Namespace;

/// <summary>chmod -R and chown -R: data managers and admins, a whole subtree in one go, files without x; refusals change nothing.</summary>
[Collection(CatalogCollection.Name)]
public class RecursiveOwnershipTests(CatalogFixture fx)
{
    [Fact]
    public async Task A_data_manager_changes_a_whole_subtree_and_the_read_rule_follows()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("chmod-r");
        await fx.Client.RegisterAsync([TestData.File($"{dir}/a/b/f.root", se), TestData.File($"{dir}/g.root", se)]);
        var manager = fx.ClientWith(await fx.IssueTokenAsync("dm-" + Guid.NewGuid().ToString("N")[..6], ["data-manager"], ["storage.read:/", "storage.modify:/"]));

        var top = await manager.ChangeOwnerAsync(dir, "alice", "belle-ana", recursive: true);
        Assert.Equal(("alice", "belle-ana"), (top.Owner, top.Group));
        top = await manager.ChangeModeAsync(dir, Convert.ToInt32("750", 8), recursive: true);
        Assert.Equal(Convert.ToInt32("750", 8), top.Mode);
        foreach (var d in new[] { dir, $"{dir}/a", $"{dir}/a/b" })
        {
            var e = await fx.Client.StatAsync(d);
            Assert.Equal(("alice", "belle-ana", "750"), (e.Owner, e.Group, Convert.ToString(e.Mode, 8)));
        }
        foreach (var f in new[] { $"{dir}/a/b/f.root", $"{dir}/g.root" })
        {
            var file = await fx.Client.GetFileAsync(f); // also what the cache serves
            Assert.Equal(("alice", "belle-ana", "640"), (file.Owner, file.Group, Convert.ToString(file.Mode, 8)));
        }

        // Others may no longer search it: a reader outside the group sees nothing below, a member does.
        var outsider = fx.ClientWith(await fx.IssueTokenAsync("bob-" + Guid.NewGuid().ToString("N")[..6], ["reader"], ["storage.read:/"]));
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => outsider.GetFileAsync($"{dir}/a/b/f.root"));
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => outsider.QueryAsync(new QueryRequest("size >= 0", dir))); // the directory itself is hidden now
        var member = fx.ClientWith(await fx.IssueTokenAsync("carol-" + Guid.NewGuid().ToString("N")[..6], ["reader"], ["storage.read:/"], ["belle-ana"]));
        Assert.Equal(2, (await member.QueryAsync(new QueryRequest("size >= 0", dir))).Rows.Count);
    }

    [Fact]
    public async Task Only_data_managers_go_recursive_a_file_is_refused_and_nothing_changes()
    {
        var se = await fx.NewStorageElementAsync();
        var dir = TestData.Dir("chmod-r-refused");
        await fx.Client.RegisterAsync([TestData.File($"{dir}/sub/f.root", se)]);
        var who = "owner-" + Guid.NewGuid().ToString("N")[..6];
        await fx.Client.ChangeOwnerAsync(dir, who, null, recursive: true);
        var owner = fx.ClientWith(await fx.IssueTokenAsync(who, ["producer"], [$"storage.create:{dir}", $"storage.read:{dir}"]));

        // The owner may chmod its directory, but not a whole tree at once.
        await owner.ChangeModeAsync(dir, Convert.ToInt32("775", 8));
        await Assert.ThrowsAsync<CatalogForbiddenException>(() => owner.ChangeModeAsync(dir, Convert.ToInt32("700", 8), recursive: true));
        Assert.Equal("755", Convert.ToString((await fx.Client.StatAsync($"{dir}/sub")).Mode, 8));
        Assert.Equal("644", Convert.ToString((await fx.Client.GetFileAsync($"{dir}/sub/f.root")).Mode, 8));

        var onFile = await Assert.ThrowsAsync<CatalogValidationException>(() => fx.Client.ChangeModeAsync($"{dir}/sub/f.root", 0x1ED, recursive: true));
        Assert.Equal("recursive", onFile.Field);
        await Assert.ThrowsAsync<CatalogNotFoundException>(() => fx.Client.ChangeOwnerAsync($"{dir}/nope", "x", null, recursive: true));
        Assert.Equal(who, (await fx.Client.GetFileAsync($"{dir}/sub/f.root")).Owner);
    }
}
