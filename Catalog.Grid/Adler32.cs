namespace Catalog.Grid;

/// <summary>Adler-32 (RFC 1950), the grid's checksum, computed while the output is written.</summary>
public sealed class Adler32
{
    private const uint Mod = 65521;
    // The most bytes before the sums can overflow 32 bits (zlib's NMAX).
    private const int Nmax = 5552;
    private uint a = 1, b;

    public void Update(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            var n = Math.Min(data.Length, Nmax);
            foreach (var x in data[..n]) { a += x; b += a; }
            a %= Mod; b %= Mod;
            data = data[n..];
        }
    }

    public string Hex => ((b << 16) | a).ToString("x8");

    /// <summary>The Adler-32 of a whole buffer, as 8 hex digits.</summary>
    public static string Of(ReadOnlySpan<byte> data)
    {
        var sum = new Adler32();
        sum.Update(data);
        return sum.Hex;
    }
}

/// <summary>The "simulated" output: bytes derived from the job's seed alone (xorshift64*), so a re-run writes the same file.</summary>
public static class OutputContent
{
    public static string Write(string path, long seed, long size)
    {
        var adler = new Adler32();
        // Any seed gives its own non-zero xorshift state (seed | 1 made seeds 42 and 43 one file).
        var state = (ulong)seed * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL;
        if (state == 0) state = 1;
        var buffer = new byte[64 * 1024];
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 0);
        for (var left = size; left > 0;)
        {
            var n = (int)Math.Min(buffer.Length, left);
            for (var i = 0; i < n; i += 8)
            {
                state ^= state >> 12; state ^= state << 25; state ^= state >> 27;
                var v = state * 0x2545F4914F6CDD1DUL;
                for (var k = 0; k < 8 && i + k < n; k++) buffer[i + k] = (byte)(v >> (8 * k));
            }
            adler.Update(buffer.AsSpan(0, n));
            file.Write(buffer, 0, n);
            left -= n;
        }
        file.Flush(true);
        return adler.Hex;
    }
}
