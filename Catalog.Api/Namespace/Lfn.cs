using System.Text;
using Catalog.Api.Errors;
using Catalog.Contracts;

using Catalog.Storage;

namespace Catalog.Api.Namespace;

/// <summary>A validated, normalized path in the namespace: the root itself or something under it.</summary>
public readonly record struct LfnPath(string Path, string Parent, string Name, string Root)
{
    public bool IsRoot => Path == Root;

    /// <summary>An already-valid path below <paramref name="root"/> (built by the server, not parsed from a client).</summary>
    public static LfnPath Of(string path, string root)
    {
        var slash = path.LastIndexOf('/');
        return path == root ? new LfnPath(root, "", root[(root.LastIndexOf('/') + 1)..], root) : new LfnPath(path, path[..slash], path[(slash + 1)..], root);
    }

    /// <summary>The directory holding this entry (not defined for a root).</summary>
    public LfnPath ParentPath()
    {
        var slash = Parent.LastIndexOf('/');
        return Parent == Root
            ? new LfnPath(Root, "", Root[(Root.LastIndexOf('/') + 1)..], Root)
            : new LfnPath(Parent, Parent[..slash], Parent[(slash + 1)..], Root);
    }
}

/// <summary>
/// The naming rules of the namespace. Every path a client sends goes through <see cref="TryParse"/>;
/// each rejection names the rule it broke.
/// </summary>
public static class Lfn
{
    public const int MaxBytes = 1024;
    public const int MaxComponentBytes = 255;

    /// <summary>A valid path and every ancestor of it, itself first, its root (or "/x") last.</summary>
    /// <summary>The directories holding <paramref name="lfns"/> and all their ancestors, once each (the dataset summaries a file write can change).</summary>
    public static IEnumerable<string> Ancestry(string path) => Paths.Ancestry(path);

    public static LfnPath Parse(string? value, IReadOnlyList<string> roots, string field = "lfn") =>
        TryParse(value, roots, out var path, out var error, field)
            ? path
            : throw new CatalogException(error!.Code, error.Message, error.Field);

    /// <summary>Parses a path that must name something below a root (a file, or a directory that is not a root).</summary>
    public static LfnPath ParseBelowRoot(string? value, IReadOnlyList<string> roots, string field = "lfn")
    {
        var path = Parse(value, roots, field);
        return path.IsRoot
            ? throw new CatalogException(ErrorCode.InvalidLfn, $"{field}: '{path.Path}' is a root, not an entry below one", field)
            : path;
    }

    public static bool TryParse(string? value, IReadOnlyList<string> roots, out LfnPath path, out ItemError? error, string field = "lfn")
    {
        path = default;
        error = Check(value, field);
        if (error is not null) return false;

        var normalized = Normalize(value!);
        error = CheckComponents(normalized, field);
        if (error is not null) return false;

        foreach (var root in roots)
        {
            if (normalized == root || (normalized.StartsWith(root, StringComparison.Ordinal) && normalized[root.Length] == '/'))
            {
                var slash = normalized.LastIndexOf('/');
                path = normalized == root
                    ? new LfnPath(normalized, "", normalized[(slash + 1)..], root)
                    : new LfnPath(normalized, normalized[..slash], normalized[(slash + 1)..], root);
                return true;
            }
        }
        error = Fail(field, $"must be under a configured root ({string.Join(", ", roots)})");
        return false;
    }

    private static ItemError? Check(string? value, string field)
    {
        if (string.IsNullOrEmpty(value)) return Fail(field, "is required");
        if (value[0] != '/') return Fail(field, "must be absolute (start with '/')");
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsControl(c)) return Fail(field, $"must not contain control characters (U+{(int)c:X4} at {i})");
            // A PFN is the SE's base URL + the LFN: characters a URL or a storage element would read
            // as syntax (query, fragment, escapes, separators) or that hide what a name says
            // (whitespace, bidirectional and other invisible format characters) have no place in one.
            if (IsUnsafeInName(c))
                return Fail(field, $"must not contain {Shown(c)} (at {i}): whitespace, ? # % \\ and invisible format characters are not allowed in names");
            if (char.IsHighSurrogate(c) && (i + 1 == value.Length || !char.IsLowSurrogate(value[i + 1])))
                return Fail(field, $"must be valid UTF-8 (unpaired surrogate at {i})");
            if (char.IsLowSurrogate(c) && (i == 0 || !char.IsHighSurrogate(value[i - 1])))
                return Fail(field, $"must be valid UTF-8 (unpaired surrogate at {i})");
        }
        return null;
    }

    private static bool IsUnsafeInName(char c) =>
        c is '?' or '#' or '%' or '\\' || IsInvisible(c);

    /// <summary>Whitespace and invisible format characters (bidirectional overrides, zero-width spaces): they hide what a name says.</summary>
    public static bool IsInvisible(char c) => char.IsWhiteSpace(c) || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format;

    private static string Shown(char c) => IsInvisible(c) ? $"U+{(int)c:X4}" : $"'{c}'";

    /// <summary>NFC (so look-alike compositions name one entry) and no trailing slash.</summary>
    private static string Normalize(string value)
    {
        var normalized = value.IsNormalized(NormalizationForm.FormC) ? value : value.Normalize(NormalizationForm.FormC);
        return normalized.Length > 1 && normalized[^1] == '/' ? normalized[..^1] : normalized;
    }

    private static ItemError? CheckComponents(string value, string field)
    {
        if (Encoding.UTF8.GetByteCount(value) > MaxBytes) return Fail(field, $"must be at most {MaxBytes} bytes long");
        if (value == "/") return Fail(field, "must name an entry below a root, not '/'");
        // Walked as spans, not split: every registered and looked-up LFN comes through here.
        for (var rest = value.AsSpan(1); ;)
        {
            var slash = rest.IndexOf('/');
            var component = slash < 0 ? rest : rest[..slash];
            if (component.Length == 0) return Fail(field, "must not contain empty components ('//')");
            if (component is "." or "..") return Fail(field, "must not contain '.' or '..' components");
            // A UTF-16 unit is at most 3 UTF-8 bytes, so short components need no count.
            if (component.Length * 3 > MaxComponentBytes && Encoding.UTF8.GetByteCount(component) > MaxComponentBytes)
                return Fail(field, $"components must be at most {MaxComponentBytes} bytes long");
            if (slash < 0) return null;
            rest = rest[(slash + 1)..];
        }
    }

    private static ItemError Fail(string field, string rule) => new(ErrorCode.InvalidLfn, $"{field} {rule}", field);
}
