using PCam.MLNet.Data;
using Xunit;

namespace PCam.MLNet.Tests.Data;

/// <summary>One demo set shared by the tests of the class (generation takes a few seconds).</summary>
public sealed class DemoFixture : IDisposable
{
    public TempDir Dir { get; } = new();
    public string Generated { get; }
    public DemoFixture() => Generated = DemoData.EnsureGenerated(Dir["demo"]);
    public void Dispose() => Dir.Dispose();
}

public sealed class DemoDataTests(DemoFixture fixture) : IClassFixture<DemoFixture>, IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void DemoDataIsDeterministicOfficialLayoutAndReused()
    {
        var a = fixture.Generated;
        var b = DemoData.EnsureGenerated(_dir["b"]);
        Assert.True(DemoData.IsDemo(a));
        Assert.Contains("pcam download", File.ReadAllText(Path.Combine(a, DemoData.MarkerFile)));
        var files = Directory.GetFiles(a, "*.h5").Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(6, files.Length);
        foreach (var f in files) Assert.Equal(File.ReadAllBytes(Path.Combine(a, f!)), File.ReadAllBytes(Path.Combine(b, f!)));
        Assert.Empty(Directory.GetFiles(a, "*.tmp"));

        var mtime = File.GetLastWriteTimeUtc(Path.Combine(a, files[0]!));
        DemoData.EnsureGenerated(a);
        Assert.Equal(mtime, File.GetLastWriteTimeUtc(Path.Combine(a, files[0]!)));

        foreach (var (split, rows) in new[] { (PCamSplit.Train, 2048), (PCamSplit.Valid, 512), (PCamSplit.Test, 512) })
        {
            using var v = PCamData.Open(a, split, new PCamDataOptions { CacheDirectory = _dir["cache"] });
            Assert.Equal(rows, v.GetRowCount());
        }
    }

    [Fact]
    public void DemoClassesDifferInTheCentreOnly()
    {
        var dir = fixture.Generated;
        using var view = PCamData.Open(dir, PCamSplit.Valid, new PCamDataOptions { CacheDirectory = _dir["cache"] });
        var images = ViewReader.Images(view);
        double[] centre = new double[2], border = new double[2];
        int[] count = new int[2];
        foreach (var (i, img) in images)
        {
            int c = view.Source.GetLabel(i) ? 1 : 0;
            count[c]++;
            centre[c] += Mean(img, 32, 64);
            border[c] += Mean(img, 0, 16);
        }
        Assert.InRange(count[1], 512 / 4, 512 * 3 / 4);
        for (int c = 0; c < 2; c++) { centre[c] /= count[c]; border[c] /= count[c]; }
        Assert.True(centre[0] - centre[1] > 15, $"centre means {centre[0]:F1} vs {centre[1]:F1}"); // tumour centre darker
        Assert.True(Math.Abs(border[0] - border[1]) < 3, $"border means {border[0]:F1} vs {border[1]:F1}");
    }

    private static double Mean(byte[] img, int from, int to)
    {
        long sum = 0; int n = 0;
        for (int y = from; y < to; y++)
            for (int x = from; x < to; x++)
                for (int ch = 0; ch < 3; ch++) { sum += img[(y * 96 + x) * 3 + ch]; n++; }
        return (double)sum / n;
    }
}
