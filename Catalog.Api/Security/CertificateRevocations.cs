using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;

namespace Catalog.Api.Security;

/// <summary>
/// The revoked client certificates, from the CRL files the grid already keeps up to date (fetch-crl
/// writes them next to the CA certificates): <c>Catalog:Auth:X509:CrlFiles</c>, PEM or DER. Each
/// CRL must be signed by a CA of the trust store, or the server does not start (a CRL nobody can
/// vouch for would let anyone "revoke" or hide a revocation). The files are read again when they
/// change, checked at most once a minute; a changed file that fails the check keeps the last good list.
/// </summary>
public sealed class CertificateRevocations(IOptions<AuthOptions> options, ILogger<CertificateRevocations> log) : IHostedService
{
    private readonly TimeProvider clock = TimeProvider.System;

    private static readonly TimeSpan Recheck = TimeSpan.FromMinutes(1);
    private readonly Lock gate = new();
    private Dictionary<string, HashSet<BigInteger>> revoked = new(StringComparer.Ordinal);
    private Dictionary<string, DateTime> stamps = new(StringComparer.Ordinal);
    private DateTimeOffset checkedAt = DateTimeOffset.MinValue;

    /// <summary>At start: a CRL that cannot be read or verified stops the server.</summary>
    public Task StartAsync(CancellationToken ct)
    {
        Load();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;

    /// <summary>Reads every configured CRL; throws when one cannot be read or verified.</summary>
    public void Load()
    {
        var (lists, times) = ReadAll();
        lock (gate) (revoked, stamps, checkedAt) = (lists, times, clock.GetUtcNow());
    }

    /// <summary>Whether <paramref name="certificate"/>'s issuer lists its serial number as revoked.</summary>
    public bool IsRevoked(X509Certificate2 certificate)
    {
        Refresh();
        var serial = new BigInteger(certificate.SerialNumberBytes.Span, isUnsigned: true, isBigEndian: true);
        lock (gate) return revoked.TryGetValue(Convert.ToHexString(certificate.IssuerName.RawData), out var serials) && serials.Contains(serial);
    }

    private void Refresh()
    {
        var files = options.Value.X509.CrlFiles;
        if (files.Count == 0) return;
        lock (gate)
        {
            if (clock.GetUtcNow() - checkedAt < Recheck) return;
            checkedAt = clock.GetUtcNow();
            if (files.All(f => stamps.TryGetValue(f, out var t) && File.Exists(f) && File.GetLastWriteTimeUtc(f) == t)) return;
        }
        try
        {
            Load();
            log.LogInformation("Certificate revocation lists read again ({Count} files)", files.Count);
        }
        catch (Exception e) when (e is IOException or CryptographicException or AsnContentException or UnauthorizedAccessException)
        {
            log.LogError(e, "A certificate revocation list changed but could not be read or verified; the last good lists stay in force");
        }
    }

    private (Dictionary<string, HashSet<BigInteger>>, Dictionary<string, DateTime>) ReadAll()
    {
        var x509 = options.Value.X509;
        var lists = new Dictionary<string, HashSet<BigInteger>>(StringComparer.Ordinal);
        var times = new Dictionary<string, DateTime>(StringComparer.Ordinal);
        if (x509.CrlFiles.Count == 0) return (lists, times);
        var cas = new X509Certificate2Collection();
        if (x509.TrustedCaFile is { } caFile) cas.ImportFromPemFile(caFile);
        foreach (var file in x509.CrlFiles)
        {
            times[file] = File.GetLastWriteTimeUtc(file);
            var (issuer, serials) = Parse(Der(File.ReadAllBytes(file)), cas, file);
            if (!lists.TryGetValue(issuer, out var all)) lists[issuer] = all = [];
            all.UnionWith(serials);
        }
        return (lists, times);
    }

    private static byte[] Der(byte[] bytes)
    {
        var text = System.Text.Encoding.ASCII.GetString(bytes);
        return PemEncoding.TryFind(text, out var pem) ? Convert.FromBase64String(text[pem.Base64Data]) : bytes;
    }

    /// <summary>RFC 5280 CertificateList: the issuer (as raw DER, hex) and the revoked serial numbers, after checking the signature.</summary>
    internal static (string Issuer, List<BigInteger> Serials) Parse(byte[] der, X509Certificate2Collection cas, string file)
    {
        var list = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
        var tbsBytes = list.PeekEncodedValue().ToArray();
        var tbs = list.ReadSequence();
        var algorithm = list.ReadSequence().ReadObjectIdentifier();
        var signature = list.ReadBitString(out _);

        if (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Integer)) tbs.ReadInteger(); // version
        tbs.ReadSequence(); // signature algorithm, repeated
        var issuer = tbs.ReadEncodedValue().ToArray();
        tbs.ReadEncodedValue(); // thisUpdate
        if (tbs.HasData && (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime) || tbs.PeekTag().HasSameClassAndValue(Asn1Tag.GeneralizedTime)))
            tbs.ReadEncodedValue(); // nextUpdate
        var serials = new List<BigInteger>();
        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
        {
            var entries = tbs.ReadSequence();
            while (entries.HasData) serials.Add(entries.ReadSequence().ReadInteger());
        }

        var ca = cas.FirstOrDefault(c => c.SubjectName.RawData.AsSpan().SequenceEqual(issuer))
            ?? throw new CryptographicException($"{file}: the CRL's issuer is not a CA of Catalog:Auth:X509:TrustedCaFile");
        if (!Verifies(ca, algorithm, tbsBytes, signature))
            throw new CryptographicException($"{file}: the CRL's signature does not verify with its issuer's key");
        return (Convert.ToHexString(issuer), serials);
    }

    private static bool Verifies(X509Certificate2 ca, string algorithm, byte[] data, byte[] signature)
    {
        (HashAlgorithmName Hash, bool Ec)? kind = algorithm switch
        {
            "1.2.840.10045.4.3.2" => (HashAlgorithmName.SHA256, true),
            "1.2.840.10045.4.3.3" => (HashAlgorithmName.SHA384, true),
            "1.2.840.10045.4.3.4" => (HashAlgorithmName.SHA512, true),
            "1.2.840.113549.1.1.11" => (HashAlgorithmName.SHA256, false),
            "1.2.840.113549.1.1.12" => (HashAlgorithmName.SHA384, false),
            "1.2.840.113549.1.1.13" => (HashAlgorithmName.SHA512, false),
            _ => null,
        };
        if (kind is not { } k) throw new CryptographicException($"CRL signature algorithm {algorithm} is not supported");
        if (k.Ec)
        {
            using var ec = ca.GetECDsaPublicKey();
            return ec is not null && ec.VerifyData(data, signature, k.Hash, DSASignatureFormat.Rfc3279DerSequence);
        }
        using var rsa = ca.GetRSAPublicKey();
        return rsa is not null && rsa.VerifyData(data, signature, k.Hash, RSASignaturePadding.Pkcs1);
    }
}
