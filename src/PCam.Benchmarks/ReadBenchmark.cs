using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.ML.Data;

namespace PCam.Benchmarks;

/// <summary>Throughput of one read pass.</summary>
public sealed record ReadThroughput(long Rows, long Bytes, TimeSpan Elapsed, ulong Checksum)
{
    public double RowsPerSecond => Rows / Math.Max(1e-9, Elapsed.TotalSeconds);
    public double MegabytesPerSecond => Bytes / 1e6 / Math.Max(1e-9, Elapsed.TotalSeconds);
}

/// <summary>Result of <see cref="ReadBenchmark.Run"/>: the PatchDataView pass vs a raw sequential read of the same file.</summary>
public sealed record ReadBenchmarkResult(string XPath, string ReadMode, ReadThroughput View, ReadThroughput Raw)
{
    /// <summary>View MB/s over raw MB/s (goal: ≥ 0.5 on a contiguous file in the page cache).</summary>
    public double Ratio => View.MegabytesPerSecond / Math.Max(1e-9, Raw.MegabytesPerSecond);
}

/// <summary>
/// Reads a whole split through a PatchDataView cursor (Image and Label active, every byte summed so nothing is
/// optimised away) and, in the same run, the same `x` file with a plain sequential FileStream.
/// </summary>
public static class ReadBenchmark
{
    /// <param name="xH5Path">An uncompressed `*_x.h5`; its `*_y.h5` partner is found by name.</param>
    /// <param name="warmup">Read the file once first so both passes see the page cache.</param>
    public static ReadBenchmarkResult Run(string xH5Path, string? yH5Path = null, bool warmup = true)
    {
        yH5Path ??= GuessY(xH5Path);
        using var source = Hdf5PatchSource.Open(xH5Path, yH5Path);
        using var view = PatchDataView.Create(source);
        if (warmup) RawPass(xH5Path);
        var viewResult = ViewPass(view);
        var raw = RawPass(xH5Path);
        return new ReadBenchmarkResult(xH5Path, source.ReadMode, viewResult, raw);
    }

    private static string GuessY(string xPath)
    {
        var name = Path.GetFileName(xPath);
        int i = name.LastIndexOf("_x.", StringComparison.Ordinal);
        if (i < 0) throw new ArgumentException($"{xPath}: cannot derive the y file name (expected '..._x.h5'); pass it explicitly");
        return Path.Combine(Path.GetDirectoryName(xPath) ?? ".", name[..i] + "_y." + name[(i + 3)..]);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // measure I/O, not tier-0 JIT code
    public static ReadThroughput ViewPass(PatchDataView view)
    {
        var sw = Stopwatch.StartNew();
        var schema = view.Schema;
        using var cursor = view.GetRowCursor([schema[PatchSchema.ImageColumn], schema[PatchSchema.LabelColumn]]);
        var image = cursor.GetGetter<VBuffer<byte>>(schema[PatchSchema.ImageColumn]);
        var label = cursor.GetGetter<bool>(schema[PatchSchema.LabelColumn]);
        VBuffer<byte> pixels = default;
        bool l = false;
        ulong sum = 0;
        long rows = 0;
        while (cursor.MoveNext())
        {
            image(ref pixels);
            label(ref l);
            sum += Sum(pixels.GetValues()) + (l ? 1UL : 0UL);
            rows++;
        }
        return new ReadThroughput(rows, rows * PatchSchema.ImageBytes, sw.Elapsed, sum);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // measure I/O, not tier-0 JIT code
    public static ReadThroughput RawPass(string path)
    {
        var sw = Stopwatch.StartNew();
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        var buf = new byte[1 << 20];
        long total = 0;
        ulong sum = 0;
        int n;
        while ((n = fs.Read(buf)) > 0)
        {
            sum += Sum(buf.AsSpan(0, n));
            total += n;
        }
        return new ReadThroughput(total / PatchSchema.ImageBytes, total, sw.Elapsed, sum);
    }

    /// <summary>Touches every byte (vectorised, so the check costs little next to the I/O).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // measure I/O, not tier-0 JIT code
    private static ulong Sum(ReadOnlySpan<byte> data)
    {
        var acc = System.Numerics.Vector<ulong>.Zero;
        int i = 0;
        int width = System.Numerics.Vector<byte>.Count;
        for (; i + width <= data.Length; i += width)
        {
            var v = new System.Numerics.Vector<byte>(data[i..]);
            System.Numerics.Vector.Widen(v, out var lo, out var hi);
            System.Numerics.Vector.Widen(lo + hi, out var a, out var b); // ushort sums cannot overflow here (2 x 255)
            System.Numerics.Vector.Widen(a + b, out var c, out var d);
            acc += c + d;
        }
        ulong s = 0;
        for (int k = 0; k < System.Numerics.Vector<ulong>.Count; k++) s += acc[k];
        for (; i < data.Length; i++) s += data[i];
        return s;
    }
}
