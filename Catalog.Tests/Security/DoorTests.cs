using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Catalog.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Catalog.Tests.Security;

/// <summary>The second door (X.509 client certificates) and the limits every door shares.</summary>
[Collection(CatalogCollection.Name)]
public class DoorTests(CatalogFixture fx)
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    private static X509Certificate2 CreateCa(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(name, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(Now.AddDays(-1), Now.AddYears(1));
    }

    private static X509Certificate2 CreateUser(X509Certificate2 ca, string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false)); // client authentication
        return request.Create(ca, Now.AddHours(-1), Now.AddDays(30), RandomNumberGenerator.GetBytes(8));
    }

    private static async Task<(int Status, JsonElement Body)> SendWithCertificate(WebApplicationFactory<Program> server, X509Certificate2 cert, string path)
    {
        var context = await server.Server.SendAsync(c =>
        {
            c.Request.Method = "GET";
            c.Request.Scheme = "https"; // client certificates only count over TLS
            var query = path.IndexOf('?');
            c.Request.Path = query < 0 ? path : path[..query];
            if (query >= 0) c.Request.QueryString = new QueryString(path[query..]);
            c.Connection.ClientCertificate = cert;
        });
        return (context.Response.StatusCode, (await JsonDocument.ParseAsync(context.Response.Body)).RootElement.Clone());
    }

    [Fact]
    public async Task A_client_certificate_from_a_trusted_ca_maps_to_its_identity_and_others_are_401()
    {
        var ca = CreateCa("CN=Test Grid CA, O=Belle");
        var caFile = Path.Combine(Path.GetTempPath(), $"catalog-test-ca-{Guid.NewGuid():N}.pem");
        await File.WriteAllTextAsync(caFile, ca.ExportCertificatePem());
        await using var server = fx.CreateFactory(new Dictionary<string, string?>
        {
            ["Catalog:Auth:X509:TrustedCaFile"] = caFile,
            ["Catalog:Auth:X509:Identities:0:Dn"] = "/O=Belle/CN=Alice", // grid style; the certificate prints "CN=Alice, O=Belle"
            ["Catalog:Auth:X509:Identities:0:Subject"] = "alice",
            ["Catalog:Auth:X509:Identities:0:Roles:0"] = "reader",
            ["Catalog:Auth:X509:Identities:0:Scopes:0"] = "storage.read:/belle",
        });

        var (status, me) = await SendWithCertificate(server, CreateUser(ca, "CN=Alice, O=Belle"), "/api/v1/whoami");
        Assert.True(status == 200, me.ToString());
        Assert.Equal("alice", me.GetProperty("subject").GetString());
        Assert.Equal("reader", me.GetProperty("roles")[0].GetString());
        Assert.Equal(200, (await SendWithCertificate(server, CreateUser(ca, "CN=Alice, O=Belle"), "/api/v1/namespace/stat?path=/belle")).Status);

        var (unmapped, unmappedBody) = await SendWithCertificate(server, CreateUser(ca, "CN=Mallory, O=Belle"), "/api/v1/whoami");
        Assert.Equal(401, unmapped);
        Assert.Contains("not mapped", unmappedBody.GetProperty("detail").GetString());

        var rogueCa = CreateCa("CN=Test Grid CA, O=Belle"); // same name, different key
        var (rogue, _) = await SendWithCertificate(server, CreateUser(rogueCa, "CN=Alice, O=Belle"), "/api/v1/whoami");
        Assert.Equal(401, rogue);
        File.Delete(caFile);
    }

    [Fact]
    public async Task A_certificate_its_CA_revoked_is_refused_and_a_CRL_nobody_trusted_signed_stops_the_server()
    {
        var ca = CreateCa("CN=Revoking CA, O=Belle");
        var (revoked, kept) = (CreateUser(ca, "CN=Alice, O=Belle"), CreateUser(ca, "CN=Alice, O=Belle"));
        var caFile = Path.Combine(Path.GetTempPath(), $"catalog-test-ca-{Guid.NewGuid():N}.pem");
        var crlFile = Path.Combine(Path.GetTempPath(), $"catalog-test-crl-{Guid.NewGuid():N}.pem");
        await File.WriteAllTextAsync(caFile, ca.ExportCertificatePem());
        var crl = new CertificateRevocationListBuilder();
        crl.AddEntry(revoked, Now.AddMinutes(-5), X509RevocationReason.KeyCompromise);
        await File.WriteAllTextAsync(crlFile, PemEncoding.WriteString("X509 CRL",
            crl.Build(ca, 1, Now.AddDays(7), HashAlgorithmName.SHA256)));
        var settings = new Dictionary<string, string?>
        {
            ["Catalog:Auth:X509:TrustedCaFile"] = caFile,
            ["Catalog:Auth:X509:CrlFiles:0"] = crlFile,
            ["Catalog:Auth:X509:Identities:0:Dn"] = "CN=Alice, O=Belle",
            ["Catalog:Auth:X509:Identities:0:Subject"] = "alice",
            ["Catalog:Auth:X509:Identities:0:Roles:0"] = "reader",
        };
        await using (var server = fx.CreateFactory(settings))
        {
            Assert.Equal(200, (await SendWithCertificate(server, kept, "/api/v1/whoami")).Status);
            var (status, body) = await SendWithCertificate(server, revoked, "/api/v1/whoami");
            Assert.Equal(401, status);
            Assert.Contains("revoked", body.GetProperty("detail").GetString());
        }

        // A CRL signed by another key (same CA name) is not believed: the server refuses to start.
        var forger = CreateCa("CN=Revoking CA, O=Belle");
        await File.WriteAllTextAsync(crlFile, PemEncoding.WriteString("X509 CRL",
            new CertificateRevocationListBuilder().Build(forger, 2, Now.AddDays(7), HashAlgorithmName.SHA256)));
        await using var forged = fx.CreateFactory(settings);
        var refused = Assert.ThrowsAny<Exception>(() => forged.CreateClient());
        Assert.Contains("signature", refused.ToString());
        File.Delete(caFile);
        File.Delete(crlFile);
    }

    [Fact]
    public async Task An_oversized_request_body_is_refused_naming_the_limit()
    {
        await using var server = fx.CreateFactory(new Dictionary<string, string?>());
        server.UseKestrel(o => o.Limits.MaxRequestBodySize = 2_000);
        server.StartServer();
        using var http = server.CreateClient();
        http.DefaultRequestHeaders.Authorization = new("Bearer", fx.AdminToken);
        var files = Enumerable.Range(0, 100).Select(i => new { lfn = $"/belle/t/too-big/f{i}.root", size = 1, adler32 = "00000001" });

        using var response = await http.PostAsJsonAsync("api/v1/files", new { files });

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.RequestEntityTooLarge, $"{response.StatusCode}: {text}");
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.True(problem.TryGetProperty("code", out var code), text);
        Assert.Equal("LIMIT_EXCEEDED", code.GetString());
        Assert.Contains("Kestrel:Limits:MaxRequestBodySize", problem.GetProperty("detail").GetString());
    }
}
