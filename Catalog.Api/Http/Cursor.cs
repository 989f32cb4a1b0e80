using System.Text;
using Catalog.Api.Errors;

namespace Catalog.Api.Http;

/// <summary>Opaque page cursors: the keyset value of the last row, base64url-encoded.</summary>
public static class Cursor
{
    public static string Encode(string value) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(value)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The keyset value, or "" without a cursor; anything else is a 400 on <c>after</c>.</summary>
    public static string Decode(string? cursor)
    {
        if (string.IsNullOrEmpty(cursor)) return "";
        try
        {
            var base64 = cursor.Replace('-', '+').Replace('_', '/');
            base64 += new string('=', (4 - base64.Length % 4) % 4);
            var value = new UTF8Encoding(false, true).GetString(Convert.FromBase64String(base64));
            // Cursors are made of stored names, which never hold control characters.
            return ControlCharacters.Find(value) is null ? value : throw new FormatException();
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw CatalogException.Invalid("after", "is not a cursor from a previous page");
        }
    }
}
