namespace Catalog.Storage;

/// <summary>Namespace paths as the stores and the API both walk them.</summary>
public static class Paths
{
    /// <summary>A path and every directory above it up to its root, nearest first ("/a/b/c": "/a/b/c", "/a/b", "/a").</summary>
    public static IEnumerable<string> Ancestry(string path)
    {
        for (var p = path; ; p = p[..p.LastIndexOf('/')])
        {
            yield return p;
            if (p.LastIndexOf('/') <= 0) yield break;
        }
    }
}
