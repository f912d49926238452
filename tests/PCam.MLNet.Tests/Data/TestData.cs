using System.IO.Compression;
using PCam.MLNet.Data;

namespace PCam.MLNet.Tests.Data;

/// <summary>
/// The shared real sample (`shared/pcam-sample` beside the repository root). Every test that needs it asks <see cref="Root"/>:
/// null when absent on a user's clone (the test skips, showing <see cref="Missing"/>); when absent in CI (`CI=true`) asking
/// throws, so the test fails and CI cannot go green without the end-to-end checks.
/// </summary>
public static class SharedSample
{
    private static readonly string? Found = Find();

    public static string? Root => Resolve(Found, Environment.GetEnvironmentVariable("CI"));

    /// <summary>The decision: the found folder, else null (skip) outside CI, else a failure.</summary>
    public static string? Resolve(string? found, string? ciVariable) =>
        found is not null || !IsCi(ciVariable) ? found
        : throw new SharedSampleMissingException($"{Missing}; CI={ciVariable}, so the tests that need it fail instead of skipping.");

    /// <summary>GitHub Actions and GitLab CI set CI=true; .ci/run sets it too.</summary>
    public static bool IsCi(string? ciVariable) =>
        string.Equals(ciVariable, "true", StringComparison.OrdinalIgnoreCase) || ciVariable == "1";

    private static string? Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "pcam-sample");
            if (Directory.Exists(candidate)) return candidate;
        }
        return null;
    }

    public const string Missing = "../shared/pcam-sample not found: the real-data sample is not installed beside the repository";
    public static string H5 => Path.Combine(Root!, "h5");
}

public sealed class SharedSampleMissingException(string message) : Exception(message);

/// <summary>
/// Native libraries and tools some tests need (OpenSlide, vips). Present: true. Absent on a user's machine: false (the
/// test skips with the reason). Absent in CI (CI=true, as .ci/run sets, which also installs them): a failure, so CI cannot
/// go green with the OpenSlide and vips checks skipped.
/// </summary>
public static class NativeTools
{
    public static bool OpenSlide => Require(PCam.MLNet.Slides.Reading.OpenSlideSlide.IsAvailable, "libopenslide (Debian 12: libopenslide0, Debian 13: libopenslide1)");
    public static bool Vips => Require(OnPath("vips"), "vips (libvips-tools)");

    public static bool Require(bool present, string what) => Resolve(present, what, Environment.GetEnvironmentVariable("CI"));

    public static bool Resolve(bool present, string what, string? ciVariable) =>
        present || !SharedSample.IsCi(ciVariable) ? present
        : throw new SharedSampleMissingException($"{what} is not installed; CI={ciVariable}, so the tests that need it fail instead of skipping.");

    static bool OnPath(string tool) => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
        .Any(d => d.Length > 0 && File.Exists(Path.Combine(d, tool)));
}

/// <summary>A temp directory deleted on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "pcam-tests-" + Guid.NewGuid().ToString("N")[..12]);
    public TempDir() => Directory.CreateDirectory(Path);
    public string this[string name] => System.IO.Path.Combine(Path, name);
    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Deterministic in-memory patches for writing test files.</summary>
public sealed class ArraySource(byte[] pixels, bool[] labels) : IPatchSource
{
    public static ArraySource Generate(int rows, int seed = 1)
    {
        var rng = new Random(seed);
        var px = new byte[rows * PatchSchema.ImageBytes];
        rng.NextBytes(px);
        var labels = Enumerable.Range(0, rows).Select(i => i % 3 == 0).ToArray();
        return new ArraySource(px, labels);
    }
    public byte[] Pixels => pixels;
    public string Description => "array";
    public long RowCount => labels.Length;
    public void ReadImages(long row, int count, Span<byte> destination) =>
        pixels.AsSpan((int)row * PatchSchema.ImageBytes, count * PatchSchema.ImageBytes).CopyTo(destination);
    public bool GetLabel(long row) => labels[row];
    public long GetIndex(long row) => row;
    public string? GetPath(long row) => null;
    public ReadOnlySpan<byte> Image(long row) => pixels.AsSpan((int)row * PatchSchema.ImageBytes, PatchSchema.ImageBytes);
    public void Dispose() { }
}

/// <summary>Wraps a source and counts ReadImages calls.</summary>
public sealed class CountingSource(IPatchSource inner) : IPatchSource
{
    private int _calls;
    public int ReadCalls => _calls;
    public string Description => inner.Description;
    public long RowCount => inner.RowCount;
    public void ReadImages(long row, int count, Span<byte> destination)
    {
        Interlocked.Increment(ref _calls);
        inner.ReadImages(row, count, destination);
    }
    public bool GetLabel(long row) => inner.GetLabel(row);
    public long GetIndex(long row) => inner.GetIndex(row);
    public string? GetPath(long row) => inner.GetPath(row);
    public void Dispose() => inner.Dispose();
}

public static class Gz
{
    public static void Compress(string src, string dst)
    {
        using var input = File.OpenRead(src);
        using var output = File.Create(dst);
        using var gz = new GZipStream(output, CompressionLevel.Fastest);
        input.CopyTo(gz);
    }
}
