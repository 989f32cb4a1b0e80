using Catalog.Api.Files;
using Catalog.Api.StorageElements;
using Catalog.Contracts;
using Catalog.Storage;

namespace Catalog.Tests.Files;

/// <summary>The pure part of registration, called directly: no server, no database.</summary>
public class RegistrationValidatorTests
{
    private static readonly string[] Roots = ["/belle"];
    private static readonly SeRegistry Ses = SeRegistry.Of([
        new StorageElementRow(1, "KEK-DISK", "KEK", "root", "root://kek//data", true, true, 0, 0, 0),
        new StorageElementRow(2, "OLD-DISK", "KEK", "root", "root://old//data", true, false, 0, 0, 0)]);

    private static NewFile File(string lfn, string se = "KEK-DISK", long? size = 10, string? adler = "0000abcd", Guid? guid = null, string? dataset = null) =>
        new(lfn, size, adler, guid, Replicas: [new NewReplica(se)], Dataset: dataset);

    [Fact]
    public void Parses_each_item_once_and_names_the_field_of_what_is_wrong()
    {
        NewFile?[] files = [File("/belle/a/f1"), File("/belle/a/f2", size: -1), File("/belle/a/f3", adler: "xyz"), null, File("f4", dataset: "/belle/ds"),
            File("/belle/a/dir/")];
        var parsed = RegistrationValidator.Parse(files, Roots, out var errors);
        Assert.Equal("/belle/a/f1", parsed[0]!.Path.Path);
        Assert.Equal("/belle/a", parsed[0]!.Directory);
        Assert.Equal(0x0000abcd, parsed[0]!.Adler32);
        Assert.Equal("files[1].size", errors[1]!.Field);
        Assert.Equal("files[2].adler32", errors[2]!.Field);
        Assert.Equal("files[3]", errors[3]!.Field);
        Assert.Null(parsed[4]!.Directory); // its datablock is chosen when stored
        Assert.Equal("/belle/ds/f4", parsed[4]!.PermissionPath);
        Assert.Equal((ErrorCode.InvalidLfn, "files[5].lfn"), (errors[5]!.Code, errors[5]!.Field)); // a trailing slash names a directory
    }

    [Fact]
    public void Checks_replicas_against_the_registry_and_refuses_repeats_in_one_batch()
    {
        var guid = Guid.NewGuid();
        NewFile?[] files = [File("/belle/a/f1", guid: guid), File("/belle/a/f1"), File("/belle/a/f2", guid: guid),
            File("/belle/a/f3", se: "NOWHERE"), File("/belle/a/f4", se: "OLD-DISK"), File("/belle/a/f5")];
        var parsed = RegistrationValidator.Parse(files, Roots, out var errors);
        var results = new RegisterResult?[files.Length];
        var valid = RegistrationValidator.Validate(files, parsed, errors, Ses, results);
        Assert.Equal([0, 5], valid.Select(v => v.Index));
        Assert.Equal(1, valid[0].Replicas[0].SeId);
        Assert.Equal(ErrorCode.Conflict, results[1]!.Error!.Code);
        Assert.Equal("files[2].guid", results[2]!.Error!.Field);
        Assert.Equal(ErrorCode.UnknownStorageElement, results[3]!.Error!.Code);
        Assert.Equal(ErrorCode.StorageElementWriteDisabled, results[4]!.Error!.Code);
    }
}
