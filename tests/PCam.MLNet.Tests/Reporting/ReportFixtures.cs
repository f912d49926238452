using PCam.MLNet.Reporting;
using PCam.MLNet.Training;
using Xunit;

namespace PCam.MLNet.Tests.Reporting;

/// <summary>Synthetic scored rows and patches for the report tests.</summary>
internal static class ReportFixtures
{
    /// <summary>Informative but imperfect scores: tumour rows have a higher logit on average.</summary>
    public static List<ScoredPatch> Rows(int n, int seed, double separation = 1.5)
    {
        var rng = new Random(seed);
        var rows = new List<ScoredPatch>(n);
        for (var i = 0; i < n; i++)
        {
            var label = rng.NextDouble() < 0.45;
            var logit = (label ? separation : -separation) + Gaussian(rng) * 1.5;
            var p = (float)(1 / (1 + Math.Exp(-logit)));
            rows.Add(new ScoredPatch(1000 + i, label, p, p >= 0.5f));
        }
        return rows;
    }

    static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary>Colour of the synthetic patch for an Index at a pixel: a gradient plus an index-dependent tint, darker centre.</summary>
    public static (byte R, byte G, byte B) PatchPixel(long index, int y, int x)
    {
        var centre = y is >= 32 and < 64 && x is >= 32 and < 64;
        var r = (byte)(200 - x);
        var g = (byte)(40 + (index * 37 % 120));
        var b = (byte)(100 + y);
        return centre ? ((byte)(r / 2), (byte)(g / 2), (byte)(b / 2)) : (r, g, b);
    }

    public static void ReadPatch(long index, byte[] buffer)
    {
        Assert.Equal(96 * 96 * 3, buffer.Length);
        for (var y = 0; y < 96; y++)
            for (var x = 0; x < 96; x++)
            {
                var (r, g, b) = PatchPixel(index, y, x);
                var o = (y * 96 + x) * 3;
                buffer[o] = r; buffer[o + 1] = g; buffer[o + 2] = b;
            }
    }

    public static SplitMetrics Metrics(string split, IReadOnlyList<ScoredPatch> rows, double acc, double auc, double nll)
    {
        long tp = rows.Count(r => r.Label && r.PredictedLabel), fp = rows.Count(r => !r.Label && r.PredictedLabel);
        long tn = rows.Count(r => !r.Label && !r.PredictedLabel), fn = rows.Count(r => r.Label && !r.PredictedLabel);
        return new SplitMetrics(split, rows.Count, acc, auc, nll, 0.81234, 0.8, 0.7, 0.9, 0.031, tp, fp, tn, fn);
    }

    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("pcam-report-test-").FullName;
        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { /* best effort */ }
        }
    }
}
