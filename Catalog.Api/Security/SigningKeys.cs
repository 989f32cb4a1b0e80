using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.Tokens;

namespace Catalog.Api.Security;

/// <summary>
/// The JSON Web Key Set behind tokens: every public key in it validates, and the first EC key
/// with its private part signs the tokens this catalog issues (ES256). Other issuers' public
/// keys (RSA or EC) can be added to the same file.
/// </summary>
public sealed class SigningKeys
{
    public IReadOnlyList<SecurityKey> ValidationKeys { get; }
    public SigningCredentials? Signing { get; }

    private SigningKeys(IReadOnlyList<SecurityKey> validation, SigningCredentials? signing)
    {
        ValidationKeys = validation;
        Signing = signing;
    }

    public static SigningKeys Load(string path, bool create)
    {
        if (!File.Exists(path))
        {
            if (!create) throw new InvalidOperationException($"Catalog:Auth:KeyFile '{path}' does not exist (and Catalog:Auth:CreateKeyFile is false)");
            CreateKeyFile(path);
        }
        var set = new JsonWebKeySet(File.ReadAllText(path));
        var validation = new List<SecurityKey>();
        SigningCredentials? signing = null;
        foreach (var jwk in set.Keys)
        {
            if (jwk.Kty == JsonWebAlgorithmsKeyTypes.EllipticCurve && jwk.Crv == "P-256")
            {
                var parameters = new ECParameters
                {
                    Curve = ECCurve.NamedCurves.nistP256,
                    Q = new ECPoint { X = Base64UrlEncoder.DecodeBytes(jwk.X), Y = Base64UrlEncoder.DecodeBytes(jwk.Y) },
                    D = jwk.D is null ? null : Base64UrlEncoder.DecodeBytes(jwk.D),
                };
                var key = new ECDsaSecurityKey(ECDsa.Create(parameters)) { KeyId = jwk.Kid };
                validation.Add(key);
                if (jwk.D is not null && signing is null) signing = new SigningCredentials(key, SecurityAlgorithms.EcdsaSha256);
            }
            else if (JsonWebKeyConverter.TryConvertToSecurityKey(jwk, out var other))
            {
                validation.Add(other);
            }
        }
        if (validation.Count == 0) throw new InvalidOperationException($"Catalog:Auth:KeyFile '{path}' holds no usable key");
        return new SigningKeys(validation, signing);
    }

    /// <summary>Writes a new P-256 key pair as a one-key JWKS, readable by the owner only.</summary>
    public static void CreateKeyFile(string path)
    {
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var p = ecdsa.ExportParameters(includePrivateParameters: true);
        var jwks = new JsonObject
        {
            ["keys"] = new JsonArray(new JsonObject
            {
                ["kty"] = "EC", ["crv"] = "P-256", ["use"] = "sig", ["alg"] = "ES256",
                ["kid"] = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(9)),
                ["x"] = Base64UrlEncoder.Encode(p.Q.X), ["y"] = Base64UrlEncoder.Encode(p.Q.Y), ["d"] = Base64UrlEncoder.Encode(p.D),
            }),
        };
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write,
            UnixCreateMode = OperatingSystem.IsWindows() ? null : UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            JsonSerializer.Serialize(stream, jwks, new JsonSerializerOptions { WriteIndented = true });
        }
        try { File.Move(temp, path); }
        catch (IOException) when (File.Exists(path)) { File.Delete(temp); } // another process made one first
    }
}
