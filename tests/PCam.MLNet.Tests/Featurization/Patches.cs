using PCam.MLNet.Data;

namespace PCam.MLNet.Tests.Featurization;

internal static class Patches
{
    const int S = PatchSchema.Height, C = PatchSchema.Channels;

    /// <summary>Smooth random-ish patches (structure, not pure noise, so features differ per patch).</summary>
    public static byte[] Random(int count, int seed)
    {
        var rng = new Random(seed);
        var b = new byte[count * PatchSchema.ImageBytes];
        for (int n = 0; n < count; n++)
        {
            double fx = rng.NextDouble() * 0.3, fy = rng.NextDouble() * 0.3, ph = rng.NextDouble() * 6;
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                    for (int c = 0; c < C; c++)
                        b[n * PatchSchema.ImageBytes + (y * S + x) * C + c] =
                            (byte)Math.Clamp(128 + 90 * Math.Sin(fx * x * (c + 1) + fy * y + ph) + rng.Next(-20, 20), 0, 255);
        }
        return b;
    }

    /// <summary>Maps one HWC patch through (y, x) -> source pixel.</summary>
    public static byte[] Map(ReadOnlySpan<byte> patch, Func<int, int, (int y, int x)> source)
    {
        var o = new byte[PatchSchema.ImageBytes];
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
            {
                var (sy, sx) = source(y, x);
                for (int c = 0; c < C; c++) o[(y * S + x) * C + c] = patch[(sy * S + sx) * C + c];
            }
        return o;
    }

    public static byte[] Rot90(ReadOnlySpan<byte> p) => Map(p, (y, x) => (x, S - 1 - y));
    public static byte[] FlipH(ReadOnlySpan<byte> p) => Map(p, (y, x) => (y, S - 1 - x));
    public static byte[] Transpose(ReadOnlySpan<byte> p) => Map(p, (y, x) => (x, y));
}
