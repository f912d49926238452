using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Tests.Cli;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Training;
using SkiaSharp;
using Xunit;

namespace PCam.MLNet.Tests.Api;

/// <summary>The public ML.NET-style API: a user's pipeline FeaturizePatches(...).Append(trainer) on the real sample.</summary>
public sealed class FeaturizePatchesTests : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    // Small and fast: native 96 px, one view, fp32 (the int8 test below covers calibration).
    private static PatchFeaturizerOptions Fast(string? cache = null) =>
        new() { ImageSize = 96, Tta = false, Precision = FeaturizerPrecision.Fp32, CacheDirectory = cache };

    private PCamDataOptions DataOptions => new() { CacheDirectory = _dir["h5"] };

    public static TheoryData<string> Trainers => ["Lbfgs", "FastTree"];

    [SkippableTheory]
    [MemberData(nameof(Trainers))]
    public void PipelineFitsEvaluatesSavesAndLoadsWithTheSameProbabilities(string trainer)
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromPCam(SharedSample.H5, PCamSplit.Train, DataOptions);
        var test = ml.Data.LoadFromPCam(SharedSample.H5, PCamSplit.Test, DataOptions);
        IEstimator<ITransformer> head = trainer == "Lbfgs"
            ? ml.BinaryClassification.Trainers.LbfgsLogisticRegression(featureColumnName: "Features")
            : ml.BinaryClassification.Trainers.FastTree(featureColumnName: "Features", numberOfTrees: 30)
                .Append(ml.BinaryClassification.Calibrators.Platt());
        var pipeline = ml.Transforms.FeaturizePatches(Fast()).AppendCacheCheckpoint(ml)
            .Append(ml.Transforms.NormalizeMinMax("Features")).Append(head);
        using var model = (TransformerChain<ITransformer>)pipeline.Fit(train);

        var metrics = ml.BinaryClassification.Evaluate(model.Transform(test));
        // Chance is 0.5; the sample's test rows come from other slides than its 512 train rows.
        Assert.True(metrics.AreaUnderRocCurve > 0.75, $"AUC {metrics.AreaUnderRocCurve}");
        Assert.Equal(256, metrics.ConfusionMatrix.Counts.Sum(r => r.Sum()));

        var path = _dir["model.zip"];
        ml.Model.Save(model, train.Schema, path);
        var inMemory = Probabilities(model.Transform(test));

        var fresh = new MLContext(seed: 7);
        using var loaded = (IDisposable)fresh.Model.Load(path, out var schema);
        Assert.NotNull(schema.GetColumnOrNull(PatchSchema.ImageColumn));
        var fromZip = Probabilities(((ITransformer)loaded).Transform(test));
        Assert.Equal(inMemory.Length, fromZip.Length);
        for (var i = 0; i < inMemory.Length; i++) Assert.Equal(inMemory[i], fromZip[i], 1e-4);
        // The zip holds ML.NET's own transforms only: no type of this library is needed to load it.
        Assert.DoesNotContain(ZipText(path), t => t.Contains("PCam.MLNet", StringComparison.Ordinal));
        (train as IDisposable)?.Dispose();
        (test as IDisposable)?.Dispose();
    }

    [SkippableFact]
    public void ZipFromTheApiLoadsInTheConsumingApp()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        Assert.True(File.Exists(ConsumingAppTests.AppDll), $"consuming app not built at {ConsumingAppTests.AppDll}");
        var ml = new MLContext(seed: 1);
        using var train = (PatchDataView)ml.Data.LoadFromPCam(SharedSample.H5, PCamSplit.Train, DataOptions);
        using var test = ((PatchDataView)ml.Data.LoadFromPCam(SharedSample.H5, PCamSplit.Test, DataOptions)).Take(6);
        using var model = ml.Transforms.FeaturizePatches(Fast())
            .Append(ml.BinaryClassification.Trainers.LbfgsLogisticRegression(featureColumnName: "Features")).Fit(train);
        var path = _dir["api.zip"];
        ml.Model.Save(model, train.Schema, path);
        var expected = Probabilities(model.Transform(test));

        var files = new List<string>();
        var pixels = new byte[PatchSchema.ImageBytes];
        for (var i = 0; i < expected.Length; i++)
        {
            test.Source.ReadImages(test.Rows![i], 1, pixels);
            files.Add(WritePng(pixels, _dir[$"row{i}.png"]));
        }
        var (code, stdout, stderr) = ConsumingAppTests.RunApp([path, .. files]);
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToArray();
        Assert.Equal(expected.Length, lines.Length);
        for (var i = 0; i < expected.Length; i++)
            Assert.Equal(expected[i], float.Parse(lines[i].Split(',')[1], System.Globalization.CultureInfo.InvariantCulture), 1e-4);
    }

    /// <summary>
    /// FeaturizePatches with test-time augmentation (the mean over the 8 dihedral views): fit, transform, save, reload with
    /// the same probabilities; the features are those of the view average, so a transposed patch gives the same
    /// features (while one view alone does not).
    /// </summary>
    [SkippableFact]
    public void TtaPipelineFitsSavesAndReloadsAndItsFeaturesIgnoreRotationsAndFlips()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var ml = new MLContext(seed: 1);
        using var train = ((PatchDataView)ml.Data.LoadFromPCam(SharedSample.H5, PCamSplit.Train, DataOptions)).Take(96);
        using var test = ((PatchDataView)ml.Data.LoadFromPCam(SharedSample.H5, PCamSplit.Test, DataOptions)).Take(32);
        var tta = new PatchFeaturizerOptions { ImageSize = 96, Tta = true, Precision = FeaturizerPrecision.Fp32 };
        var pipeline = ml.Transforms.FeaturizePatches(tta).Append(ml.Transforms.NormalizeMinMax("Features"))
            .Append(ml.BinaryClassification.Trainers.LbfgsLogisticRegression(featureColumnName: "Features"));
        using var model = pipeline.Fit(train);
        var inMemory = Probabilities(model.Transform(test));
        Assert.Equal(32, inMemory.Length);
        var path = _dir["tta.zip"];
        ml.Model.Save(model, train.Schema, path);
        using var loaded = (IDisposable)new MLContext(seed: 7).Model.Load(path, out _);
        var fromZip = Probabilities(((ITransformer)loaded).Transform(test));
        for (var i = 0; i < inMemory.Length; i++) Assert.Equal(inMemory[i], fromZip[i], 1e-4);

        // Original and transposed patches (a flip about the diagonal, one of the 8 views) through the fitted featurizer.
        var originals = new List<PatchInput>();
        var transposed = new List<PatchInput>();
        for (var k = 0; k < 4; k++)
        {
            var r = new PatchInput();
            test.Source.ReadImages(test.Rows![k], 1, r.Image);
            var t = new PatchInput();
            for (int y = 0; y < PatchSchema.Height; y++)
                for (int x = 0; x < PatchSchema.Width; x++)
                    r.Image.AsSpan((x * PatchSchema.Width + y) * 3, 3).CopyTo(t.Image.AsSpan((y * PatchSchema.Width + x) * 3, 3));
            originals.Add(r);
            transposed.Add(t);
        }
        var featurizer = model.First();
        double MaxDiff(ITransformer f)
        {
            var a = Features(f.Transform(ml.Data.LoadFromEnumerable(originals)), 4);
            var b = Features(f.Transform(ml.Data.LoadFromEnumerable(transposed)), 4);
            return a.Zip(b).Max(p => p.First.Zip(p.Second).Max(q => Math.Abs(q.First - q.Second)));
        }
        Assert.True(MaxDiff(featurizer) < 1e-3, $"TTA features of a transposed patch differ by {MaxDiff(featurizer)}");
        using var oneView = ml.Transforms.FeaturizePatches(Fast()).Fit(train);
        Assert.True(MaxDiff(oneView) > 1e-2, "one view's features should see the transpose (else the check above proves nothing)");
    }

    [SkippableFact]
    public void Int8FitCalibratesOnTheFittedRowsAndFeaturizesBatchedAsTheSavedTransformDoes()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var ml = new MLContext(seed: 1);
        using var train = ((PatchDataView)ml.Data.LoadFromPCam(SharedSample.H5, PCamSplit.Train, DataOptions)).Take(64);
        var options = new PatchFeaturizerOptions { ImageSize = 96, Tta = false, CalibrationRows = 32 };
        using var featurizer = ml.Transforms.FeaturizePatches(options).Fit(train);
        Assert.Equal(FeaturizerPrecision.Int8, featurizer.Precision);
        Assert.NotNull(featurizer.Calibration);
        Assert.StartsWith("Conv/MatMul/Gemm weights int8 per channel", featurizer.PrecisionReason);
        Assert.Equal(featurizer.FeatureDimension, featurizer.Graph.FeatureDimension);
        // Batched (PCam view) and ML.NET's row-by-row transform (the same rows as plain PatchInput objects) agree.
        var batched = Features(featurizer.Transform(train), 8);
        var rows = new List<PatchInput>();
        for (var i = 0; i < 8; i++)
        {
            var r = new PatchInput();
            train.Source.ReadImages(train.Rows![i], 1, r.Image);
            rows.Add(r);
        }
        var rowByRow = Features(featurizer.Transform(ml.Data.LoadFromEnumerable(rows)), 8);
        for (var i = 0; i < 8; i++)
        for (var j = 0; j < featurizer.FeatureDimension; j++)
            Assert.Equal(batched[i][j], rowByRow[i][j], 1e-3);
    }

    [SkippableFact]
    public void CacheDirectoryKeepsTheFeaturesForTheNextFit()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var ml = new MLContext(seed: 1);
        using var train = ((PatchDataView)ml.Data.LoadFromPCam(SharedSample.H5, PCamSplit.Train, DataOptions)).Take(48);
        var cache = _dir["features"];
        float[][] first;
        using (var f = ml.Transforms.FeaturizePatches(Fast(cache)).Fit(train)) first = Features(f.Transform(train), 48);
        var files = Directory.GetFiles(cache, "*.idv");
        Assert.Single(files);
        var stamp = File.GetLastWriteTimeUtc(files[0]);
        using (var f = ml.Transforms.FeaturizePatches(Fast(cache)).Fit(train))
        {
            var again = Features(f.Transform(train), 48);
            Assert.Equal(first.SelectMany(x => x), again.SelectMany(x => x));
        }
        Assert.Equal(files, Directory.GetFiles(cache, "*.idv"));
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(files[0]));
    }

    /// <summary>A row of any view with an image column: the image and two columns the featurizer knows nothing of.</summary>
    private sealed class TaggedPatch
    {
        [Microsoft.ML.Data.VectorType(PatchSchema.ImageBytes)]
        public byte[] Image { get; set; } = new byte[PatchSchema.ImageBytes];
        public string Tag { get; set; } = "";
        public float Weight { get; set; }
    }

    private static List<TaggedPatch> RandomPatches(int n)
    {
        var random = new Random(5);
        return Enumerable.Range(0, n).Select(i =>
        {
            var p = new TaggedPatch { Tag = $"row{i}", Weight = i };
            random.NextBytes(p.Image);
            return p;
        }).ToList();
    }

    /// <summary>A view that counts the cursors opened on it.</summary>
    private sealed class CountingView(IDataView inner) : IDataView
    {
        public int Cursors;
        public bool CanShuffle => inner.CanShuffle;
        public DataViewSchema Schema => inner.Schema;
        public long? GetRowCount() => inner.GetRowCount();
        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        {
            Interlocked.Increment(ref Cursors);
            return inner.GetRowCursor(columnsNeeded, rand);
        }
        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        {
            Interlocked.Increment(ref Cursors);
            return inner.GetRowCursorSet(columnsNeeded, n, rand);
        }
    }

    [Fact]
    public void TransformIsLazyAndKeepsEveryInputColumnWhichAnotherTransformCanUse()
    {
        var ml = new MLContext(seed: 1);
        var rows = RandomPatches(70); // more than one batch of 64, and a short last batch
        var input = new CountingView(ml.Data.LoadFromEnumerable(rows));
        using var featurizer = ml.Transforms.FeaturizePatches(Fast()).Fit(input);
        var fitCursors = input.Cursors;

        // Asking for the schema and transforming run nothing: no cursor, no ONNX Runtime session, no graph file.
        var schema = featurizer.GetOutputSchema(input.Schema);
        var output = featurizer.Transform(input);
        Assert.Equal(fitCursors, input.Cursors);
        Assert.False(featurizer.SessionStarted);

        // The output schema is the input schema plus Features, and it is exactly what GetOutputSchema said.
        Assert.Equal(input.Schema.Select(c => (c.Name, c.Type.ToString())).Append(("Features", $"Vector<Single, {featurizer.FeatureDimension}>")),
                     output.Schema.Select(c => (c.Name, c.Type.ToString())));
        Assert.Equal(schema.Select(c => (c.Name, c.Index, c.Type)), output.Schema.Select(c => (c.Name, c.Index, c.Type)));

        // Another ML.NET transform appended on a column the featurizer never touches.
        var doubled = ml.Transforms.Expression("Doubled", "w => w * 2", "Weight").Fit(output).Transform(output);
        var tags = doubled.GetColumn<string>("Tag").ToArray();
        var weights = doubled.GetColumn<float>("Doubled").ToArray();
        Assert.Equal(rows.Select(r => r.Tag), tags);
        Assert.Equal(rows.Select(r => r.Weight * 2), weights);

        // Batched features equal ML.NET's row-by-row ONNX transform (what the saved model and a prediction engine run).
        var batched = Features(doubled, rows.Count);
        var engine = ml.Model.CreatePredictionEngine<TaggedPatch, FeaturesRow>(featurizer);
        for (var i = 0; i < rows.Count; i += 23)
        {
            var single = engine.Predict(rows[i]).Features;
            Assert.Equal(featurizer.FeatureDimension, single.Length);
            for (var j = 0; j < single.Length; j++) Assert.Equal(single[j], batched[i][j], 1e-4);
        }
    }

    [Fact]
    public void TheFittedViewIsFeaturizedLikeAnyOtherAndSingleViewIsAskedForExplicitly()
    {
        var ml = new MLContext(seed: 1);
        var rows = RandomPatches(6);
        var fitted = ml.Data.LoadFromEnumerable(rows);
        var options = new PatchFeaturizerOptions { ImageSize = 96, Tta = true, Precision = FeaturizerPrecision.Fp32 };
        using var featurizer = ml.Transforms.FeaturizePatches(options).Fit(fitted);
        Assert.True(featurizer.Tta);
        Assert.Equal(FeaturizerPrecision.Fp32, featurizer.Precision);
        Assert.Equal("requested (precision fp32)", featurizer.PrecisionReason);
        Assert.Null(featurizer.Calibration);
        // No choice by object identity: the view Fit saw and an equal view get the same (8-view) features.
        var same = Features(featurizer.Transform(fitted), rows.Count);
        var other = Features(featurizer.Transform(ml.Data.LoadFromEnumerable(rows)), rows.Count);
        Assert.Equal(same.SelectMany(x => x), other.SelectMany(x => x));
        using var single = featurizer.SingleView();
        Assert.False(single.Tta);
        var one = Features(single.Transform(fitted), rows.Count);
        Assert.NotEqual(same[0], one[0]);
    }

    private sealed class FeaturesRow
    {
        public float[] Features { get; set; } = [];
    }

    [Fact]
    public void FitRefusesAViewWithoutAnImageColumn()
    {
        var ml = new MLContext(seed: 1);
        var view = ml.Data.LoadFromEnumerable(new[] { new { Label = true } });
        var e = Assert.Throws<ArgumentException>(() => ml.Transforms.FeaturizePatches(Fast()).Fit(view));
        Assert.Contains("'Image' column of 27648 bytes", e.Message);
        Assert.Throws<ArgumentException>(() => ml.Transforms.FeaturizePatches(new PatchFeaturizerOptions { Precision = (FeaturizerPrecision)4 }));
    }

    internal static float[] Probabilities(IDataView scored) =>
        scored.GetColumn<float>("Probability").ToArray();

    private static float[][] Features(IDataView view, int rows) =>
        view.GetColumn<float[]>(FeaturizerGraph.OutputName).Take(rows).ToArray();

    private static string[] ZipText(string path)
    {
        using var zip = System.IO.Compression.ZipFile.OpenRead(path);
        return zip.Entries.Where(e => e.FullName.EndsWith("Model.key", StringComparison.Ordinal) || e.Name == "Version.txt")
            .Select(e => { using var r = new StreamReader(e.Open()); return r.ReadToEnd(); }).ToArray();
    }

    private static string WritePng(byte[] rgb, string path)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(PatchSchema.Width, PatchSchema.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (var y = 0; y < PatchSchema.Height; y++)
        for (var x = 0; x < PatchSchema.Width; x++)
        {
            var o = (y * PatchSchema.Width + x) * 3;
            bitmap.SetPixel(x, y, new SKColor(rgb[o], rgb[o + 1], rgb[o + 2]));
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        using var file = File.Create(path);
        data.SaveTo(file);
        return path;
    }
}
