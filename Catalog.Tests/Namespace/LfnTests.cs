using Catalog.Api.Errors;
using Catalog.Api.Namespace;
using Catalog.Contracts;

namespace Catalog.Tests.Namespace;

public class LfnTests
{
    private static readonly string[] Roots = ["/belle"];

    [Theory]
    [InlineData("/belle/MC/file.root", "/belle/MC", "file.root")]
    [InlineData("/belle/MC/dir/", "/belle/MC", "dir")]
    [InlineData("/belle/données/é.root", "/belle/données", "é.root")]
    public void Valid_paths_split_into_parent_and_name(string lfn, string parent, string name)
    {
        var path = Lfn.Parse(lfn, Roots);
        Assert.Equal(parent, path.Parent);
        Assert.Equal(name, path.Name);
        Assert.Equal("/belle", path.Root);
    }

    [Theory]
    [InlineData("/belle/a?b=1", "'?'")]
    [InlineData("/belle/a#frag", "'#'")]
    [InlineData("/belle/%2e%2e%2fetc", "'%'")]
    [InlineData("/belle/a b.root", "U+0020")]
    [InlineData("/belle/a\\b", "'\\'")]
    [InlineData("/belle/evil\u202Etoor.exe", "U+202E")]
    [InlineData("/belle/zero\u200Bwidth", "U+200B")]
    public void Characters_a_storage_element_would_read_as_syntax_are_refused(string lfn, string shown)
    {
        var e = Assert.Throws<CatalogException>(() => Lfn.Parse(lfn, Roots));
        Assert.Equal(ErrorCode.InvalidLfn, e.Code);
        Assert.Contains($"must not contain {shown}", e.Message);
    }

    [Fact]
    public void Root_itself_parses_as_root()
    {
        Assert.True(Lfn.Parse("/belle", Roots).IsRoot);
        Assert.Throws<CatalogException>(() => Lfn.ParseBelowRoot("/belle", Roots));
    }

    [Fact]
    public void Decomposed_unicode_is_normalized_to_nfc()
    {
        var decomposed = "/belle/e\u0301.root";
        Assert.Equal("/belle/\u00e9.root", Lfn.Parse(decomposed, Roots).Path);
    }

    [Theory]
    [InlineData(null, "is required")]
    [InlineData("", "is required")]
    [InlineData("belle/x", "must be absolute")]
    [InlineData("/belle//x", "empty components")]
    [InlineData("/belle/./x", "'.' or '..'")]
    [InlineData("/belle/../etc/passwd", "'.' or '..'")]
    [InlineData("/belle/x\ny", "control characters")]
    [InlineData("/belle/x\u0000y", "control characters")]
    [InlineData("/other/x", "under a configured root")]
    [InlineData("/bellex/y", "under a configured root")]
    [InlineData("/", "below a root")]
    public void Invalid_paths_name_the_rule(string? lfn, string rule)
    {
        var error = Assert.Throws<CatalogException>(() => Lfn.Parse(lfn, Roots));
        Assert.Equal(ErrorCode.InvalidLfn, error.Code);
        Assert.Contains(rule, error.Message);
    }

    [Fact]
    public void Unpaired_surrogates_are_not_utf8()
    {
        var lfn = "/belle/" + (char)0xD800 + "x";
        Assert.Contains("valid UTF-8", Assert.Throws<CatalogException>(() => Lfn.Parse(lfn, Roots)).Message);
    }

    [Fact]
    public void Component_and_total_lengths_are_limited_in_bytes()
    {
        Assert.Equal("/belle/" + new string('a', 255), Lfn.Parse("/belle/" + new string('a', 255), Roots).Path);
        Assert.Contains("255 bytes", Assert.Throws<CatalogException>(() => Lfn.Parse("/belle/" + new string('a', 256), Roots)).Message);
        // 128 two-byte characters are 256 bytes: the limit is in UTF-8 bytes, not characters.
        Assert.Contains("255 bytes", Assert.Throws<CatalogException>(() => Lfn.Parse("/belle/" + new string('é', 128), Roots)).Message);
        var longPath = "/belle" + string.Concat(Enumerable.Repeat("/" + new string('b', 200), 6));
        Assert.Contains("1024 bytes", Assert.Throws<CatalogException>(() => Lfn.Parse(longPath, Roots)).Message);
    }
}
