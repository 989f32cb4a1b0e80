using Catalog.Api.Security;
using Catalog.Client;
using Catalog.Contracts;
using Catalog.Tests.Infrastructure;

namespace Catalog.Tests.Security;

/// <summary>What is validated in a scope is exactly what is enforced: one scope string is one scope.</summary>
[Collection(CatalogCollection.Name)]
public class ScopeTests(CatalogFixture fx)
{
    [Theory]
    [InlineData("storage.modify:/belle/x storage.modify:/belle/y")]
    [InlineData("storage.create:/belle/a b")]
    [InlineData("storage.read:/belle/tab\there")]
    [InlineData("storage.read:/belle/x\u00a0y")]
    [InlineData("storage.read:/belle/q?x")]
    [InlineData("storage.read:/belle/%2e%2e")]
    public void Whitespace_and_unsafe_characters_make_no_scope(string text) => Assert.False(Scope.TryParse(text, out _));

    [Theory]
    [InlineData("storage.read:/belle/MC/release-08-01-00/prod00024816")]
    [InlineData("storage.create:/belle/user/alice.b_c+d=e,f@g~h")]
    public void Grid_paths_are_scopes(string text) => Assert.True(Scope.TryParse(text, out _));

    [Fact]
    public async Task A_token_is_never_issued_with_two_scopes_in_one_string()
    {
        var e = await Assert.ThrowsAsync<CatalogValidationException>(() => fx.Client.IssueTokenAsync(
            new TokenRequest("scope-tricks", ["producer"], ["storage.read:/belle", "storage.modify:/belle/x storage.modify:/belle/y"])));
        Assert.Equal("scopes[1]", e.Field);
    }
}
