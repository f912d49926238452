using System.IO.Compression;
using Microsoft.ML;
using PCam.MLNet.Data;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Training;
using Xunit;
using PCam.MLNet.Featurization;

namespace PCam.MLNet.Tests.Robustness;

/// <summary>Byte-level mutations: bit flips, truncations and zeroed blocks, each from its own seed (reproducible).</summary>
internal static class Mutations
{
    public static (string What, byte[] Bytes) Apply(byte[] original, int seed, int headerBytes)
    {
        var rng = new Random(seed);
        var b = (byte[])original.Clone();
        int span = Math.Min(headerBytes, b.Length);
        switch (rng.Next(3))
        {
            case 0:
                int flips = 1 + rng.Next(8);
                var at = new List<int>();
                for (int i = 0; i < flips; i++) { int p = rng.Next(span); b[p] ^= (byte)(1 << rng.Next(8)); at.Add(p); }
                return ($"seed {seed}: {flips} bit flip(s) at {string.Join(",", at)}", b);
            case 1:
                // Mostly inside the header; one case in four anywhere in the file.
                int length = rng.Next(4) == 0 ? rng.Next(original.Length) : rng.Next(span);
                return ($"seed {seed}: truncated to {length} bytes", b[..length]);
            default:
                int size = 8 << rng.Next(7), start = rng.Next(span);
                int end = Math.Min(b.Length, start + size);
                Array.Clear(b, start, end - start);
                return ($"seed {seed}: zeroed bytes {start}..{end - 1}", b);
        }
    }
}

/// <summary>
/// Seeded mutations of HDF5 headers (the real sample's valid split when ../shared is present, else a
/// generated official-layout file), of `.h5.gz` archives, of model zips and of images. Each case must end in our own
/// exception type naming the file, or in a normal result; never another exception type, never a hang (per-case
/// timeout), never a temp or half-written file left behind.
/// </summary>
[Collection(TinyModelCollection.Name)]
public sealed class FuzzTests(TinyModelFixture model) : IDisposable
{
    const int HeaderCases = 120, GzCases = 30, ZipCases = 40, ImageCasesPerFormat = 25;
    static readonly TimeSpan CaseTimeout = TimeSpan.FromSeconds(20);
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    static string X(PCamSplit s) => PCamChecksums.FileStem(s, 'x') + ".h5";
    static string Y(PCamSplit s) => PCamChecksums.FileStem(s, 'y') + ".h5";

    /// <summary>Runs one case with a timeout; true = normal result, false = our exception naming <paramref name="file"/>.</summary>
    static bool Case<TException>(string what, string file, Action body) where TException : PCamException
    {
        var task = Task.Run(body);
        try
        {
            Assert.True(task.Wait(CaseTimeout), $"{what}: no result within {CaseTimeout.TotalSeconds} s (hang)");
            return true;
        }
        catch (AggregateException ae) when (ae.InnerException is TException e)
        {
            Assert.True(e.Message.Contains(file, StringComparison.Ordinal), $"{what}: message does not name {file}: {e.Message}");
            return false;
        }
        catch (AggregateException ae)
        {
            Assert.Fail($"{what}: {ae.InnerException!.GetType().Name} instead of {typeof(TException).Name}: {ae.InnerException}");
            return false;
        }
    }

    /// <summary>The split used for HDF5 mutations: the sample's valid split decompressed, or a generated one.</summary>
    (string Dir, PCamSplit Split) Hdf5Original()
    {
        var dir = Directory.CreateDirectory(_dir["original"]).FullName;
        if (SharedSample.Root is not null)
        {
            foreach (var name in new[] { X(PCamSplit.Valid), Y(PCamSplit.Valid) })
            {
                using var gz = new GZipStream(File.OpenRead(Path.Combine(SharedSample.H5, name + ".gz")), CompressionMode.Decompress);
                using var output = File.Create(Path.Combine(dir, name));
                gz.CopyTo(output);
            }
        }
        else PCamImporter.Write(ArraySource.Generate(256, seed: 9), Path.Combine(dir, X(PCamSplit.Valid)), Path.Combine(dir, Y(PCamSplit.Valid)));
        return (dir, PCamSplit.Valid);
    }

    static (long Rows, bool[] Labels) ReadAll(string dir, PCamSplit split, PCamDataOptions options)
    {
        using var view = PCamData.Open(dir, split, options);
        var s = view.Source;
        var buffer = new byte[64 * PatchSchema.ImageBytes];
        for (long r = 0; r < s.RowCount; r += 64)
        {
            int n = (int)Math.Min(64, s.RowCount - r);
            s.ReadImages(r, n, buffer);
        }
        return (s.RowCount, Enumerable.Range(0, (int)s.RowCount).Select(r => s.GetLabel(r)).ToArray());
    }

    [Fact]
    public void Hdf5HeaderMutationsEndInADataErrorOrTheSameRowsAndLabels()
    {
        var (original, split) = Hdf5Original();
        var options = new PCamDataOptions { VerifyChecksums = false, Warning = _ => { } };
        var expected = ReadAll(original, split, options);
        var xBytes = File.ReadAllBytes(Path.Combine(original, X(split)));
        var yBytes = File.ReadAllBytes(Path.Combine(original, Y(split)));
        int failures = 0;
        for (int seed = 0; seed < HeaderCases; seed++)
        {
            // Mostly the image file (its header is the larger); every fourth case the label file.
            bool mutateY = seed % 4 == 3;
            var dir = Directory.CreateDirectory(_dir[$"h5-{seed}"]).FullName;
            var (what, bytes) = Mutations.Apply(mutateY ? yBytes : xBytes, seed, headerBytes: 4096);
            File.WriteAllBytes(Path.Combine(dir, X(split)), mutateY ? xBytes : bytes);
            File.WriteAllBytes(Path.Combine(dir, Y(split)), mutateY ? bytes : yBytes);
            var target = Path.Combine(dir, mutateY ? Y(split) : X(split));
            (long Rows, bool[] Labels) got = default;
            if (Case<PCamDataException>(what, mutateY ? dir : target, () => got = ReadAll(dir, split, options)))
            {
                // A normal result: the structure survived, so row count and (for x mutations) every label are unchanged.
                Assert.True(got.Rows == expected.Rows, $"{what}: {got.Rows} rows instead of {expected.Rows}");
                if (!mutateY) Assert.True(got.Labels.SequenceEqual(expected.Labels), $"{what}: labels changed");
            }
            else failures++;
            Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
            Directory.Delete(dir, recursive: true);
        }
        Assert.True(failures > HeaderCases / 4, $"only {failures} of {HeaderCases} header mutations were detected: the mutations miss the headers");
    }

    [Fact]
    public void GzMutationsEndInADataErrorNamingTheGzOrTheSameRowsAndLeaveNoPartialCache()
    {
        var src = Directory.CreateDirectory(_dir["gz-src"]).FullName;
        PCamImporter.Write(ArraySource.Generate(40, seed: 3), Path.Combine(src, X(PCamSplit.Test)), Path.Combine(src, Y(PCamSplit.Test)));
        var xGz = _dir["x.gz"];
        Gz.Compress(Path.Combine(src, X(PCamSplit.Test)), xGz);
        var yGz = _dir["y.gz"];
        Gz.Compress(Path.Combine(src, Y(PCamSplit.Test)), yGz);
        var xBytes = File.ReadAllBytes(xGz);
        for (int seed = 0; seed < GzCases; seed++)
        {
            var dir = Directory.CreateDirectory(_dir[$"gz-{seed}"]).FullName;
            var cache = _dir[$"gz-cache-{seed}"];
            // Header and trailer both matter in gzip: mutate the whole (small) archive.
            var (what, bytes) = Mutations.Apply(xBytes, seed, headerBytes: xBytes.Length);
            var target = Path.Combine(dir, X(PCamSplit.Test) + ".gz");
            File.WriteAllBytes(target, bytes);
            File.Copy(yGz, Path.Combine(dir, Y(PCamSplit.Test) + ".gz"));
            (long Rows, bool[] Labels) got = default;
            var ok = Case<PCamDataException>(what, target, () => got = ReadAll(dir, PCamSplit.Test, new PCamDataOptions { CacheDirectory = cache, VerifyChecksums = false, Warning = _ => { } }));
            if (ok) Assert.Equal(40, got.Rows);
            var left = Directory.Exists(cache) ? Directory.GetFiles(cache, "*", SearchOption.AllDirectories) : [];
            Assert.DoesNotContain(left, p => p.EndsWith(".tmp", StringComparison.Ordinal));
            if (!ok) Assert.DoesNotContain(left, p => p.EndsWith(X(PCamSplit.Test), StringComparison.Ordinal));
        }
    }

    [Fact]
    public void ModelZipMutationsEndInAModelErrorOrTheSamePredictions()
    {
        var bytes = File.ReadAllBytes(model.ModelPath);
        var patch = new PatchInput { Image = TestImages.Pattern(4) };
        var ml = new MLContext(1);
        var reference = PCamModel.Load(ml, model.ModelPath, out _);
        var expected = ml.Model.CreatePredictionEngine<PatchInput, PatchPrediction>(reference).Predict(patch).Probability;
        PCamModel.Owner(reference).Dispose();
        for (int seed = 0; seed < ZipCases; seed++)
        {
            // Zip metadata sits at both ends (local headers first, central directory last): mutate anywhere.
            var (what, mutated) = Mutations.Apply(bytes, 1000 + seed, headerBytes: bytes.Length);
            var path = _dir[$"zip-{seed}.zip"];
            File.WriteAllBytes(path, mutated);
            float p = float.NaN;
            if (Case<PCamModelException>(what, path, () =>
                {
                    var m = new MLContext(1);
                    var loaded = PCamModel.Load(m, path, out _);
                    using var release = PCamModel.Owner(loaded);
                    p = m.Model.CreatePredictionEngine<PatchInput, PatchPrediction>(loaded).Predict(patch).Probability;
                }))
                Assert.True(p == expected, $"{what}: loaded but predicts {p} instead of {expected}");
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("png")]
    [InlineData("jpeg")]
    [InlineData("bmp")]
    [InlineData("tiff")]
    public void ImageMutationsEndInADataErrorOrTheIntactPixelsOrOnlyWhatTheFormatAllows(string format)
    {
        var rgb = TestImages.Pattern(11);
        var bytes = format switch
        {
            "png" => TestImages.Png(rgb), "jpeg" => TestImages.Jpeg(rgb), "bmp" => TestImages.Bmp(rgb), _ => TestImages.Tiff(rgb),
        };
        var intactPath = _dir[$"intact.{format}"];
        File.WriteAllBytes(intactPath, bytes);
        var intact = PatchImageDecoder.DecodeFile(intactPath);
        for (int seed = 0; seed < ImageCasesPerFormat; seed++)
        {
            var (what, mutated) = Mutations.Apply(bytes, 2000 + seed, headerBytes: bytes.Length);
            var path = _dir[$"img-{format}-{seed}.{format}"];
            File.WriteAllBytes(path, mutated);
            byte[]? decoded = null;
            if (!Case<PCamDataException>(what, path, () => decoded = PatchImageDecoder.DecodeFile(path))) continue;
            // A normal result: never from a cut file (no partly decoded image), and only what the format lets a change do.
            Assert.True(mutated.Length == bytes.Length, $"{what}: a truncated {format} decoded to an image instead of an error");
            int changed = Enumerable.Range(0, bytes.Length).Count(i => mutated[i] != bytes[i]);
            int differ = Enumerable.Range(0, intact.Length).Count(i => decoded![i] != intact[i]);
            switch (format)
            {
                case "png": // CRC-32 per chunk and zlib's Adler-32 cover every byte: any change is an error
                    Assert.True(differ == 0, $"{what}: decoded, but {differ} pixel bytes differ from the intact image's");
                    break;
                case "bmp" or "tiff": // raw pixel payload: a changed payload byte changes that pixel byte, nothing else moves
                    Assert.True(differ <= changed, $"{what}: {changed} file bytes changed but {differ} pixel bytes differ from the intact image's");
                    break;
                default: // JPEG has no checksum: altered entropy data decodes to other pixels, but the same ones every time
                    Assert.True(PatchImageDecoder.DecodeFile(path).AsSpan().SequenceEqual(decoded), $"{what}: two decodes of one file differ");
                    break;
            }
        }
    }
}
