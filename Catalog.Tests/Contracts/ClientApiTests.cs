using Catalog.Client;
using PublicApiGenerator;

namespace Catalog.Tests.Contracts;

/// <summary>
/// The public surface of Catalog.Client (and of Catalog.Contracts, which it exposes) is checked
/// in under docs/api; a change fails here until approved with CATALOG_APPROVE=1.
/// </summary>
public class ClientApiTests
{
    // Compiler-generated state machine names (<ListAsync>d__13) would change with every new method.
    private static readonly ApiGeneratorOptions Options = new()
    {
        ExcludeAttributes = ["System.Runtime.CompilerServices.AsyncIteratorStateMachineAttribute", "System.Runtime.CompilerServices.AsyncStateMachineAttribute"],
    };

    [Fact]
    public void Client_public_api_matches_the_approved_file() =>
        ApprovedContractTests.Approve("Catalog.Client.approved.txt", typeof(CatalogClient).Assembly.GeneratePublicApi(Options) + "\n");

    [Fact]
    public void Contracts_public_api_matches_the_approved_file() =>
        ApprovedContractTests.Approve("Catalog.Contracts.approved.txt", typeof(Catalog.Contracts.ErrorCode).Assembly.GeneratePublicApi(Options) + "\n");
}
