using PCam.Benchmarks;
using PCam.MLNet.Data;
using Xunit;

namespace PCam.MLNet.Tests.Data;

public sealed class ReadBenchmarkTests : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void BenchmarkReadsEveryRowAndByteThroughTheView()
    {
        var src = ArraySource.Generate(100);
        var x = _dir["b_x.h5"];
        PCamImporter.Write(src, x, _dir["b_y.h5"]);
        var r = ReadBenchmark.Run(x);
        Assert.Equal(100, r.View.Rows);
        Assert.Equal(100L * PatchSchema.ImageBytes, r.View.Bytes);
        ulong expected = 0;
        foreach (var b in src.Pixels) expected += b;
        expected += (ulong)Enumerable.Range(0, 100).Count(i => src.GetLabel(i));
        Assert.Equal(expected, r.View.Checksum);
        Assert.True(r.Raw.Bytes >= r.View.Bytes);
        Assert.StartsWith("contiguous", r.ReadMode);
        Assert.True(r.Ratio > 0);
    }
}
