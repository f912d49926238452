using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using BitMiracle.LibTiff.Classic;
using Microsoft.ML;
using PCam.Benchmarks.Synthetic;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Tests.Cli;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Training;
using PCam.MLNet.Training;
using SkiaSharp;
using Xunit;
using PCam.MLNet.Slides.Reading;
using PCam.MLNet.Slides.Windows;
using PCam.MLNet.Slides.Heatmap;

namespace PCam.MLNet.Tests.Slides;

/// <summary>
/// A mosaic of the sample's real test patches (6x6, tumour patches in the top-left 3x3 block, the rest normal) inside
/// a blank 96 px border, scored by `pcam heatmap` on the patch grid (stride 96) and compared with the model zip
/// scoring the same patches one by one, as `pcam predict` does.
/// </summary>
[Collection(SampleModelCollection.Name)]
public sealed class HeatmapTests(SampleModelFixture f) : IDisposable
{
    const int P = PatchSchema.Width, N = 6, Side = (N + 2) * P, Block = 3;
    readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    sealed record Mosaic(byte[] Rgb, bool[] Labels, float[] Predicted, byte[][] Patches);

    /// <summary>Patch (i, j) of the interior is Labels[j*N+i]; Predicted = the zip's probability for that patch via a PredictionEngine.</summary>
    Mosaic Build()
    {
        var view = PCamData.Open(SharedSample.H5, PCamSplit.Test, new PCamDataOptions { CacheDirectory = Path.Combine(f.CacheDir, "h5") });
        var src = view.Source;
        var tumour = new Queue<long>();
        var normal = new Queue<long>();
        for (long r = 0; r < src.RowCount && (tumour.Count < Block * Block || normal.Count < N * N - Block * Block); r++)
            (src.GetLabel(r) ? tumour : normal).Enqueue(r);
        var rgb = new byte[Side * Side * 3];
        Array.Fill(rgb, (byte)255);
        var labels = new bool[N * N];
        var patches = new byte[N * N][];
        for (int j = 0; j < N; j++)
            for (int i = 0; i < N; i++)
            {
                bool t = i < Block && j < Block;
                var patch = new byte[PatchSchema.ImageBytes];
                src.ReadImages((t ? tumour : normal).Dequeue(), 1, patch);
                labels[j * N + i] = t;
                patches[j * N + i] = patch;
                for (int y = 0; y < P; y++)
                    patch.AsSpan(y * P * 3, P * 3).CopyTo(rgb.AsSpan((((j + 1) * P + y) * Side + (i + 1) * P) * 3, P * 3));
            }
        var ml = new MLContext(seed: 1);
        var loaded = PCamModel.Load(ml, f.ModelPath, out _);
        using var release = PCamModel.Owner(loaded);
        var engine = ml.Model.CreatePredictionEngine<PatchInput, PatchPrediction>(loaded);
        var predicted = patches.Select(p => engine.Predict(new PatchInput { Image = p }).Probability).ToArray();
        view.Dispose();
        return new Mosaic(rgb, labels, predicted, patches);
    }

    internal static void WritePng(string path, byte[] rgb, int w, int h, SKColorType type = SKColorType.Rgba8888)
    {
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var rgba = new byte[w * h * 4];
        for (int i = 0; i < w * h; i++) { rgba[i * 4] = rgb[i * 3]; rgba[i * 4 + 1] = rgb[i * 3 + 1]; rgba[i * 4 + 2] = rgb[i * 3 + 2]; rgba[i * 4 + 3] = 255; }
        Marshal.Copy(rgba, 0, bmp.GetPixels(), rgba.Length);
        using var converted = type == SKColorType.Rgba8888 ? null : new SKBitmap(new SKImageInfo(w, h, type, SKAlphaType.Opaque));
        if (converted is not null) Assert.True(bmp.CopyTo(converted, type));
        using var data = (converted ?? bmp).Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(path, data.ToArray());
    }

    /// <summary>Two-level tiled TIFF: level 0 the mosaic upsampled 2x at 0.486 um/px, level 1 the mosaic itself at 0.972 um/px (128 px tiles, not aligned with the patches).</summary>
    static void WritePyramid(string path, byte[] rgb)
    {
        var big = new byte[Side * 2 * Side * 2 * 3];
        for (int y = 0; y < Side * 2; y++)
            for (int x = 0; x < Side * 2; x++)
                rgb.AsSpan(((y / 2) * Side + x / 2) * 3, 3).CopyTo(big.AsSpan((y * Side * 2 + x) * 3, 3));
        TiledTiffWriter.Write(path, [(Side * 2, Side * 2, 0.486), (Side, Side, 0.972)], 128,
            (level, x, y, tile) => TiledTiffWriter.CopyTile(level == 0 ? big : rgb, level == 0 ? Side * 2 : Side, level == 0 ? Side * 2 : Side, x, y, tile, 128));
    }

    WindowModel Model() => WindowModel.Load(f.ModelPath, ExecutionDevice.Cpu, batchSize: 16);

    static float At(HeatmapResult r, int i, int j) => r.Probability[j * r.GridWidth + i];

    [SkippableFact]
    public void WindowsOnThePatchGridScoreLikePredictAndEvaluate()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var m = Build();
        var png = _dir["mosaic.png"];
        WritePng(png, m.Rgb, Side, Side);
        using var model = Model();
        var r = SlideHeatmap.Run(model, png, new HeatmapOptions { Stride = P, UseTissueMask = false, MicronsPerPixel = 0.972 });
        Assert.Equal((N + 2, N + 2), (r.GridWidth, r.GridHeight));
        var rows = new List<ScoredRow>();
        var expected = new List<ScoredRow>();
        for (int j = 0; j < N; j++)
            for (int i = 0; i < N; i++)
            {
                float p = At(r, i + 1, j + 1), q = m.Predicted[j * N + i];
                Assert.True(Math.Abs(p - q) <= 1e-4, $"window ({i + 1},{j + 1}): heatmap {p}, predict {q}");
                rows.Add(new ScoredRow(j * N + i, m.Labels[j * N + i], p, p, p >= 0.5f));
                expected.Add(new ScoredRow(j * N + i, m.Labels[j * N + i], q, q, q >= 0.5f));
            }
        var ml = new MLContext(seed: 1);
        double auc = PCamMetrics.Compute(ml, rows, "mosaic").Auc, evaluateAuc = PCamMetrics.Compute(ml, expected, "patches").Auc;
        Assert.Equal(evaluateAuc, auc, 6);
        Assert.True(auc >= 0.8, $"mosaic AUC {auc:F4}"); // 0.872 with the sample model; chance (a constant or shuffled model) is 0.5
    }

    [SkippableFact]
    public void TissueMaskSkipsTheBlankBorderAndTiffMatchesPng()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var m = Build();
        string png = _dir["mosaic.png"], tif = _dir["mosaic.tif"];
        WritePng(png, m.Rgb, Side, Side);
        WritePyramid(tif, m.Rgb);
        using var model = Model();
        var a = SlideHeatmap.Run(model, png, new HeatmapOptions { Stride = P, MicronsPerPixel = 0.972 });
        var b = SlideHeatmap.Run(model, tif, new HeatmapOptions { Stride = P });
        // The pyramid's default level is the one at PCam's 0.972 um/px.
        Assert.Equal(2, b.Levels.Count);
        Assert.Equal(1, b.Level.Index);
        Assert.Equal(0.972, b.Level.MicronsPerPixel!.Value, 6);
        Assert.StartsWith("tiled TIFF (128x128 tiles", b.Description);
        for (int j = 0; j < N + 2; j++)
            for (int i = 0; i < N + 2; i++)
            {
                bool border = i == 0 || j == 0 || i == N + 1 || j == N + 1;
                if (border) Assert.True(float.IsNaN(At(a, i, j)), $"border window ({i},{j}) was scored");
                float pa = At(a, i, j), pb = At(b, i, j);
                Assert.Equal(float.IsNaN(pa), float.IsNaN(pb));
                if (!float.IsNaN(pa)) Assert.True(Math.Abs(pa - pb) <= 1e-4, $"({i},{j}): PNG {pa}, TIFF {pb}");
            }
        // Most real patches are tissue (PCam also keeps some pale, fatty or near-blank patches, which the mask may skip):
        // most interior windows are scored, each with the probability predict gives.
        Assert.True(a.WindowsScored >= N * N * 2 / 3, $"only {a.WindowsScored} of {N * N} tissue windows scored: {string.Join(" ", Enumerable.Range(0, N * N).Select(k => a.Mask.Fraction((k % N + 1) * P, (k / N + 1) * P, P, P).ToString("F2")))}");
        for (int j = 0; j < N; j++)
            for (int i = 0; i < N; i++)
                if (!float.IsNaN(At(a, i + 1, j + 1))) Assert.True(Math.Abs(At(a, i + 1, j + 1) - m.Predicted[j * N + i]) <= 1e-4);
        // Level 1 is read tile by tile: the band never holds the whole level.
        Assert.True(b.PeakCacheBytes < (long)Side * Side * 3, $"{b.PeakCacheBytes} bytes cached");
    }

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void A20xPyramidGivesTheWindowsOfTheImageAtPCamResolution(bool aperio)
    {
        // The mosaic at 0.972 um/px, and the same mosaic upsampled 2x into a 20x pyramid (0.486 um/px, 4x steps, so no
        // level at 0.972): the pyramid is read at level 0 and each 192 px window halved, giving the same windows.
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var m = Build();
        string png = _dir["mosaic.png"], svs = _dir["mosaic-20x.tif"];
        WritePng(png, m.Rgb, Side, Side);
        SlideFixtures.Write20x(svs, SlideFixtures.Upsample(m.Rgb, Side, Side, 2), Side * 2, Side * 2, aperio);
        using var model = Model();
        var a = SlideHeatmap.Run(model, png, new HeatmapOptions { Stride = P, UseTissueMask = false, MicronsPerPixel = 0.972 });
        var b = SlideHeatmap.Run(model, svs, new HeatmapOptions { Stride = P, UseTissueMask = false });
        Assert.Equal((0, 2.0), (b.Sampling.Level, b.Sampling.Scale));
        Assert.Equal((a.GridWidth, a.GridHeight), (b.GridWidth, b.GridHeight));
        for (int j = 0; j < N; j++)
            for (int i = 0; i < N; i++)
            {
                float pa = At(a, i + 1, j + 1), pb = At(b, i + 1, j + 1);
                Assert.True(Math.Abs(pa - pb) <= 1e-4, $"window ({i + 1},{j + 1}): 0.972 um/px image {pa}, 20x pyramid {pb}");
                Assert.True(Math.Abs(pa - m.Predicted[j * N + i]) <= 1e-4);
            }
    }

    [SkippableFact]
    public void OpenSlideAndLibTiffGiveTheSameProbabilities()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        Skip.IfNot(NativeTools.OpenSlide, OpenSlideTests.Missing);
        var m = Build();
        var svs = _dir["mosaic-20x.svs"];
        SlideFixtures.Write20x(svs, SlideFixtures.Upsample(m.Rgb, Side, Side, 2), Side * 2, Side * 2, aperio: true);
        using var model = Model();
        var a = SlideHeatmap.Run(model, svs, new HeatmapOptions { Stride = 48, Reader = SlideReaderKind.LibTiff });
        var b = SlideHeatmap.Run(model, svs, new HeatmapOptions { Stride = 48, Reader = SlideReaderKind.OpenSlide });
        Assert.StartsWith("OpenSlide (aperio)", b.Description);
        Assert.Equal((a.Sampling.Level, a.Sampling.Scale, a.WindowsScored), (b.Sampling.Level, b.Sampling.Scale, b.WindowsScored));
        Assert.True(a.WindowsScored > 0);
        for (int k = 0; k < a.Probability.Length; k++)
            Assert.True(float.IsNaN(a.Probability[k]) ? float.IsNaN(b.Probability[k]) : Math.Abs(a.Probability[k] - b.Probability[k]) <= 1e-4,
                $"cell {k}: LibTiff {a.Probability[k]}, OpenSlide {b.Probability[k]}");
    }

    /// <summary>
    /// 32 x 32 real test patches (3,072 px at 0.972 um/px): tumour patches inside a disc of radius 7 patches around the
    /// centre, normal ones elsewhere (the sample's 256 test rows, reused in turn). Scored with the default settings (coarse-to-fine down to stride 32),
    /// smoothing and minimum region: the goal is at most 10 regions, the largest covering at
    /// least 80% of the disc.
    /// </summary>
    [SkippableFact]
    public void ATumourDiscIsOneLesionNotAFieldOfSpecks()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        using var view = PCamData.Open(SharedSample.H5, PCamSplit.Test, new PCamDataOptions { CacheDirectory = Path.Combine(f.CacheDir, "h5") });
        var mosaic = DiscMosaic.Build(view.Source);
        var tif = _dir["disc.tif"];
        mosaic.WriteTiff(tif);
        using var model = Model();
        var r = SlideHeatmap.Run(model, tif, new HeatmapOptions());
        var disc = mosaic.DiscCells(r.Stride, r.GridWidth, r.GridHeight);
        var lesions = r.Lesions.Lesions;
        var raw = RegionPolygons.Trace(r.Probability.Select(p => !float.IsNaN(p) && p >= 0.5).ToArray(), r.GridWidth, r.GridHeight).Count;
        Assert.NotEmpty(lesions);
        double covered = lesions[0].Region.Cells.Count(disc.Contains) / (double)disc.Count;
        var report = $"{lesions.Count} regions [{string.Join(" ", lesions.Select(l => l.Windows))}] (unsmoothed: {raw}), largest {lesions[0].Windows} cells covering {covered:P1} of the disc's {disc.Count}, slide score {r.Lesions.SlideScore:F3}";
        Console.WriteLine(report);
        Assert.True(lesions.Count <= 10, report);
        Assert.True(covered >= 0.8, report);
        Assert.InRange(r.Lesions.SlideScore!.Value, 0.5, 1.0);
    }

    [SkippableFact]
    public void CancellingStopsScoringAndLeavesNoOutputs()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var m = Build();
        var png = _dir["mosaic.png"];
        WritePng(png, m.Rgb, Side, Side);
        using var model = Model();
        using var cancel = new CancellationTokenSource();
        long seen = 0;
        Assert.ThrowsAny<OperationCanceledException>(() => SlideHeatmap.Run(model, png, new HeatmapOptions { Stride = 32, BatchSize = 8, MicronsPerPixel = 0.972 },
            (done, _) => { seen = done; if (done > 0) cancel.Cancel(); }, cancel: cancel.Token));
        Assert.InRange(seen, 1, 8); // stopped after the first batch
        // A finished result whose writing is cancelled leaves nothing either (temp files are removed).
        var r = SlideHeatmap.Run(model, png, new HeatmapOptions { Stride = P, MicronsPerPixel = 0.972 });
        var outDir = _dir["out"];
        Assert.ThrowsAny<OperationCanceledException>(() => HeatmapWriter.Write(r, Path.Combine(outDir, "mosaic"), "mosaic", f.ModelPath, 1, cancel: new CancellationToken(canceled: true)));
        Assert.Empty(Directory.GetFileSystemEntries(outDir));
    }

    /// <summary>The writer serialises a <see cref="SlideSummary"/> and <see cref="SlideSummary.Read"/> gives back every
    /// field; the file keeps the keys older results folders were written with, so they still resume.</summary>
    [SkippableFact]
    public void SummaryWrittenByTheWriterReadsBackWhole()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var m = Build();
        var png = _dir["summary.png"];
        WritePng(png, m.Rgb, Side, Side);
        using var model = Model();
        var r = SlideHeatmap.Run(model, png, new HeatmapOptions { Stride = P, MicronsPerPixel = 0.972 });
        var annotations = new SummaryAnnotations
        {
            Key = "none|Tumor", TumourSlide = true, WindowsScored = 64, TumourWindows = 9, WindowAuc = 0.91, WindowAccuracy = null, Dice = 0.5,
            Lesions = 2, DetectableLesions = 1, LesionsDetected = 1, PredictedRegions = 3, FalsePositiveRegions = 2,
            Detections = [[0.9, 10.5, 20], [null, 1, 2]], Froc = new SummaryFroc([0.2, 0.1], [0.9], 1), Rule = "rule",
        };
        var provenance = new SummaryProvenance("tumor", SourceIdentity.Of(png), "ab12", "cd34", "1.2.3", annotations);
        var path = _dir["s.summary.json"];
        SlideSummaryWriter.Write(r, f.ModelPath, 9, 1.25, "s", provenance, path);

        var expected = SlideSummaryWriter.Summary(r, f.ModelPath, 9, 1.25) with
        {
            SlideId = "s", Label = "tumor", Source = provenance.Source, ModelSha256 = "ab12", SettingsKey = "cd34", Version = "1.2.3", Annotations = annotations,
        };
        var read = SlideSummary.Read(path);
        static SlideSummary Scalars(SlideSummary s) => s with { Levels = null, Scoring = null, Diagnosis = null, Annotations = null };
        Assert.Equal(Scalars(expected), Scalars(read));
        Assert.NotNull(read.Settings);
        Assert.Equal(expected.Levels, read.Levels);
        Assert.True(JsonNode.DeepEquals(expected.Scoring, read.Scoring));
        Assert.True(JsonNode.DeepEquals(expected.Diagnosis, read.Diagnosis));
        Assert.Equal(expected.Features, read.Features);
        var a = read.Annotations!;
        IReadOnlyList<double?[]> none = [];
        Assert.Equal(annotations with { Detections = none, Froc = a.Froc }, a with { Detections = none });
        Assert.Equal(annotations.Detections, a.Detections);
        Assert.Equal(annotations.Froc.FalsePositiveProbabilities, a.Froc.FalsePositiveProbabilities);
        Assert.Equal(annotations.Froc.TruePositiveProbabilities, a.Froc.TruePositiveProbabilities);
        Assert.Equal(annotations.Froc.Lesions, a.Froc.Lesions);

        // The keys the file has always had, with numbers as numbers.
        var o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        string[] keys = ["input", "reader", "level", "levels", "width", "height", "levelMicronsPerPixel", "micronsPerPixelSource", "micronsPerPixel",
            "scale", "regionSize", "sampling", "windowsTotal", "windowsScored", "windowsSkipped", "scoring", "maxProbability", "meanProbability",
            "windowsAtOrAboveThreshold", "slideScore", "regions", "regionsDropped", "tumourWindows", "tumourAreaMm2", "tissueFraction",
            "saturationThreshold", "thumbnailFactor", "seconds", "windowsPerSecond", "diagnosis", "peakTileCacheBytes", "model", "settings",
            "slideId", "label", "source", "modelSha256", "settingsKey", "version", "annotations"];
        Assert.Equal(keys.Order(), o.Select(kv => kv.Key).Order());
        Assert.Equal(["path", "size", "mtimeUtcTicks"], o["source"]!.AsObject().Select(kv => kv.Key));
        Assert.Equal(JsonValueKind.Number, o["source"]!["size"]!.GetValueKind());
        Assert.Equal(JsonValueKind.Number, o["settings"]!["threshold"]!.GetValueKind());
        Assert.Equal(JsonValueKind.Number, o["seconds"]!["total"]!.GetValueKind());
        Assert.Equal(["window", "stride", "threshold", "batchSize", "tissueMask", "minTissueFraction", "levelRequested", "mppRequested",
            "targetMicronsPerPixel", "smoothingRadius", "minRegionUm2", "refine", "coarseStride", "refineThreshold", "views"],
            o["settings"]!.AsObject().Select(kv => kv.Key));
        Assert.Equal(["width", "height", "downsample", "micronsPerPixel"], o["levels"]![0]!.AsObject().Select(kv => kv.Key));
        Assert.Equal(["key", "annotation", "tumourSlide", "windowsScored", "tumourWindows", "windowAuc", "windowAccuracy", "dice", "lesions",
            "detectableLesions", "lesionsDetected", "predictedRegions", "falsePositiveRegions", "detections", "froc", "rule"],
            o["annotations"]!.AsObject().Select(kv => kv.Key));

        // Outside a cohort there is no provenance: those keys stay out of the file.
        SlideSummaryWriter.Write(r, f.ModelPath, 9, 1.25, "s", null, path);
        var bare = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        foreach (var k in new[] { "source", "modelSha256", "settingsKey", "version", "annotations" }) Assert.False(bare.ContainsKey(k), k);
    }

    static bool Inside(JsonArray ring, double x, double y)
    {
        bool inside = false;
        for (int i = 0, k = ring.Count - 1; i < ring.Count; k = i++)
        {
            double xi = (double)ring[i]![0]!, yi = (double)ring[i]![1]!, xk = (double)ring[k]![0]!, yk = (double)ring[k]![1]!;
            if ((yi > y) != (yk > y) && x < (xk - xi) * (y - yi) / (yk - yi) + xi) inside = !inside;
        }
        return inside;
    }

    [SkippableFact]
    public void CommandWritesAllOutputsAndGeoJsonCoversTheTumourWindows()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var m = Build();
        var tif = _dir["slide.tif"];
        WritePyramid(tif, m.Rgb);
        var results = _dir["out"];
        // No smoothing and no minimum area: every window at or above the threshold is in a region.
        var run = CliTests.Pcam("heatmap", "--model", f.ModelPath, tif, "--output", results, "--stride", "96", "--threshold", "0.5", "--smoothing", "0", "--min-region-um2", "0");
        Assert.True(run.Code == 0, run.Err);
        var outDir = Path.Combine(results, "slides", "slide");
        foreach (var ext in new[] { ".tiles.csv", ".heatmap.png", ".geojson", ".tissue.png", ".summary.json" })
            Assert.True(File.Exists(Path.Combine(outDir, "slide" + ext)), ext);
        Assert.Empty(Directory.GetFiles(results, "*.tmp", SearchOption.AllDirectories));
        Assert.True(File.Exists(Path.Combine(results, "slides.csv")) && File.Exists(Path.Combine(results, "run.json")));

        var csv = File.ReadAllLines(Path.Combine(outDir, "slide.tiles.csv"));
        Assert.Equal("minx,miny,width,height,level,x,y,size,probability", csv[0]);
        var tiles = csv.Skip(1).Select(l => l.Split(',')).ToDictionary(c => (int.Parse(c[5]) / P - 1, int.Parse(c[6]) / P - 1), c => double.Parse(c[8], System.Globalization.CultureInfo.InvariantCulture));
        Assert.All(csv.Skip(1), l => Assert.Equal("1", l.Split(',')[4]));
        // Level-0 rectangles: level 1 is 2x downsampled, so a 96 px window at (x, y) is 192 px at (2x, 2y).
        Assert.All(csv.Skip(1), l =>
        {
            var c = l.Split(',').Select(long.Parse).Take(8).ToArray();
            Assert.Equal((c[5] * 2, c[6] * 2, 192L, 192L), (c[0], c[1], c[2], c[3]));
        });
        Assert.DoesNotContain(tiles.Keys, k => k.Item1 < 0 || k.Item2 < 0 || k.Item1 >= N || k.Item2 >= N);

        var geo = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "slide.geojson")))!;
        Assert.Equal("FeatureCollection", (string)geo["type"]!);
        var features = geo["features"]!.AsArray();
        foreach (var feature in features)
        {
            Assert.Equal("annotation", (string)feature!["properties"]!["objectType"]!);
            Assert.Equal("Tumor", (string)feature["properties"]!["classification"]!["name"]!);
            Assert.Equal(3, feature["properties"]!["classification"]!["color"]!.AsArray().Count);
            Assert.InRange((double)feature["properties"]!["measurements"]!["Max probability"]!, 0.5, 1.0);
            Assert.Equal("Polygon", (string)feature["geometry"]!["type"]!);
        }
        // Level 1 is 2x downsampled: polygons are in level-0 pixels, so a window centre (level 1) doubles.
        foreach (var ((i, j), p) in tiles)
        {
            double cx = ((i + 1) * P + P / 2.0) * 2, cy = ((j + 1) * P + P / 2.0) * 2;
            bool covered = features.Any(ft => Inside(ft!["geometry"]!["coordinates"]![0]!.AsArray(), cx, cy));
            Assert.True(covered == (p >= 0.5), $"window ({i},{j}) p={p}: covered={covered}");
        }
        // Most of the known tumour block is covered (the sample model is good, not perfect).
        int block = tiles.Count(t => t.Key.Item1 < Block && t.Key.Item2 < Block && t.Value >= 0.5);
        Assert.True(block >= Block * Block / 2, $"only {block} of the {Block * Block} tumour windows reach 0.5");

        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "slide.summary.json")))!;
        Assert.Equal(64, (long)summary["windowsTotal"]!);
        Assert.Equal(tiles.Count, (long)summary["windowsScored"]!);
        Assert.Equal(64 - tiles.Count, (long)summary["windowsSkipped"]!);
        Assert.Equal(tiles.Values.Max(), (double)summary["maxProbability"]!, 5);
        long above = tiles.Values.Count(p => p >= 0.5);
        Assert.Equal(above * Math.Pow(96 * 0.972 / 1000, 2), (double)summary["tumourAreaMm2"]!, 5);
        using var heat = SKBitmap.Decode(Path.Combine(outDir, "slide.heatmap.png"));
        Assert.True(heat.Width > Side && heat.Height >= Side);
    }

    [Fact]
    public void RegionTracingKeepsHolesAndSplitsCornerTouches()
    {
        // 5x5 grid: a ring of 8 cells around a hole at (1,1), and a cell touching the ring only at a corner.
        var marked = new bool[5 * 5];
        foreach (var (x, y) in new[] { (0, 0), (1, 0), (2, 0), (0, 1), (2, 1), (0, 2), (1, 2), (2, 2), (3, 3) }) marked[y * 5 + x] = true;
        var regions = RegionPolygons.Trace(marked, 5, 5);
        Assert.Equal(2, regions.Count);
        var ring = regions.Single(r => r.Cells.Count == 8);
        Assert.Single(ring.Holes);
        Assert.Equal(9, RegionPolygons.Area(ring.Outer));
        Assert.Equal(-1, RegionPolygons.Area(ring.Holes[0]));
        var single = regions.Single(r => r.Cells.Count == 1);
        Assert.Equal([(3, 3), (4, 3), (4, 4), (3, 4), (3, 3)], single.Outer);
    }

    [Fact]
    public void OtsuSeparatesTwoClusters()
    {
        var values = Enumerable.Repeat(0.02, 500).Concat(Enumerable.Repeat(0.4, 500)).ToArray();
        Assert.InRange(TissueMask.Otsu(values), 0.02, 0.4);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void JpegTiledTiffIsReadTileByTileAsRgb(bool ycbcr)
    {
        // A smooth 640x384 image in 128 px JPEG tiles (RGB, or YCbCr as Camelyon16 and SVS slides store them).
        const int W = 640, H = 384, T = 128;
        var rgb = new byte[W * H * 3];
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
            {
                int i = (y * W + x) * 3;
                rgb[i] = (byte)(120 + 100 * Math.Sin(x / 40.0)); rgb[i + 1] = (byte)(60 + y / 4); rgb[i + 2] = (byte)(200 - x / 8);
            }
        var path = _dir[$"jpeg-{ycbcr}.tif"];
        using (var t = Tiff.Open(path, "w")!)
        {
            t.SetField(TiffTag.IMAGEWIDTH, W); t.SetField(TiffTag.IMAGELENGTH, H);
            t.SetField(TiffTag.SAMPLESPERPIXEL, 3); t.SetField(TiffTag.BITSPERSAMPLE, 8);
            t.SetField(TiffTag.PLANARCONFIG, PlanarConfig.CONTIG);
            t.SetField(TiffTag.COMPRESSION, Compression.JPEG); t.SetField(TiffTag.JPEGQUALITY, 95);
            t.SetField(TiffTag.PHOTOMETRIC, ycbcr ? Photometric.YCBCR : Photometric.RGB);
            if (ycbcr) { t.SetField(TiffTag.YCBCRSUBSAMPLING, 2, 2); t.SetField(TiffTag.JPEGCOLORMODE, JpegColorMode.RGB); }
            t.SetField(TiffTag.TILEWIDTH, T); t.SetField(TiffTag.TILELENGTH, T);
            var tile = new byte[T * T * 3];
            for (int y = 0; y < H; y += T)
                for (int x = 0; x < W; x += T)
                {
                    TiledTiffWriter.CopyTile(rgb, W, H, x, y, tile, T);
                    Assert.True(t.WriteEncodedTile(t.ComputeTile(x, y, 0, 0), tile, tile.Length) > 0);
                }
        }
        using var slide = SlideImage.Open(path);
        Assert.Contains("jpeg", slide.Description);
        var back = new byte[W * H * 3];
        slide.ReadRegion(0, 0, W, H, back);
        double error = 0;
        for (int i = 0; i < back.Length; i++) error += Math.Abs(back[i] - rgb[i]);
        Assert.InRange(error / back.Length, 0, 4); // lossy, but the same picture in the same channel order
    }

    [Fact]
    public void SubIfdPyramidLevelsAreFoundAndTheOneAtPCamResolutionIsTheDefault()
    {
        // OME-TIFF layout: level 0 in IFD 0 at 0.486 um/px, the 2x reduced level in its SubIFD at 0.972 um/px.
        const int W = 512, H = 384, T = 128;
        var rng = new Random(5);
        var big = new byte[W * H * 3];
        rng.NextBytes(big);
        var half = new byte[W / 2 * (H / 2) * 3];
        rng.NextBytes(half);
        var path = _dir["ome.tif"];
        using (var t = Tiff.Open(path, "w")!)
        {
            void Level(int w, int h, double mpp, byte[] rgb, bool sub)
            {
                t.SetField(TiffTag.IMAGEWIDTH, w); t.SetField(TiffTag.IMAGELENGTH, h);
                t.SetField(TiffTag.SAMPLESPERPIXEL, 3); t.SetField(TiffTag.BITSPERSAMPLE, 8);
                t.SetField(TiffTag.PHOTOMETRIC, Photometric.RGB); t.SetField(TiffTag.PLANARCONFIG, PlanarConfig.CONTIG);
                t.SetField(TiffTag.COMPRESSION, Compression.ADOBE_DEFLATE);
                t.SetField(TiffTag.TILEWIDTH, T); t.SetField(TiffTag.TILELENGTH, T);
                t.SetField(TiffTag.RESOLUTIONUNIT, ResUnit.CENTIMETER);
                t.SetField(TiffTag.XRESOLUTION, 1e4 / mpp); t.SetField(TiffTag.YRESOLUTION, 1e4 / mpp);
                if (sub) t.SetField(TiffTag.SUBFILETYPE, FileType.REDUCEDIMAGE);
                else t.SetField(TiffTag.SUBIFD, 1, new long[1]);
                var tile = new byte[T * T * 3];
                for (int y = 0; y < h; y += T)
                    for (int x = 0; x < w; x += T)
                    {
                        TiledTiffWriter.CopyTile(rgb, w, h, x, y, tile, T);
                        Assert.True(t.WriteEncodedTile(t.ComputeTile(x, y, 0, 0), tile, tile.Length) > 0);
                    }
                Assert.True(t.WriteDirectory());
            }
            Level(W, H, 0.486, big, sub: false);
            Level(W / 2, H / 2, 0.972, half, sub: true);
        }
        using (var check = Tiff.Open(path, "r")!) Assert.Equal(1, check.NumberOfDirectories()); // the reduced level is only reachable as a SubIFD
        using var slide = SlideImage.Open(path);
        Assert.Equal(2, slide.Levels.Count);
        Assert.Equal((W / 2, H / 2), (slide.Levels[1].Width, slide.Levels[1].Height));
        Assert.Equal(1, slide.DefaultLevel());
        slide.SelectLevel(1);
        var back = new byte[half.Length];
        slide.ReadRegion(0, 0, W / 2, H / 2, back);
        Assert.Equal(half, back);
        slide.SelectLevel(0);
        var back0 = new byte[96 * 96 * 3];
        slide.ReadRegion(200, 100, 96, 96, back0);
        for (int r = 0; r < 96; r++) Assert.Equal(big.AsSpan(((100 + r) * W + 200) * 3, 96 * 3).ToArray(), back0.AsSpan(r * 96 * 3, 96 * 3).ToArray());
    }

    // ---- bad inputs: one line, naming the file ---------------------------------------------------------------

    void AssertOneLineError(string path, string expected)
    {
        var e = Assert.ThrowsAny<PCamDataException>(() =>
        {
            using var s = SlideImage.Open(path);
            s.SelectLevel(s.DefaultLevel());
            s.ReadRegion(0, 0, 96, 96, new byte[96 * 96 * 3]);
        });
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    static void WriteTiff(string path, int w, int h, int spp, int bits)
    {
        using var t = Tiff.Open(path, "w")!;
        t.SetField(TiffTag.IMAGEWIDTH, w); t.SetField(TiffTag.IMAGELENGTH, h);
        t.SetField(TiffTag.SAMPLESPERPIXEL, spp); t.SetField(TiffTag.BITSPERSAMPLE, bits);
        t.SetField(TiffTag.PHOTOMETRIC, spp == 1 ? Photometric.MINISBLACK : Photometric.RGB);
        t.SetField(TiffTag.PLANARCONFIG, PlanarConfig.CONTIG);
        t.SetField(TiffTag.ROWSPERSTRIP, h);
        var row = new byte[w * spp * bits / 8];
        for (int y = 0; y < h; y++) t.WriteScanline(row, y);
    }

    [Fact]
    public void BadInputsAreOneLineErrorsNamingTheFile()
    {
        var text = _dir["notes.png"];
        File.WriteAllText(text, "not an image at all");
        AssertOneLineError(text, "not a PNG, JPEG or TIFF");

        var grey = _dir["grey.png"];
        WritePng(grey, new byte[128 * 128 * 3], 128, 128, SKColorType.Gray8);
        AssertOneLineError(grey, "grey");

        var greyTif = _dir["grey.tif"];
        WriteTiff(greyTif, 128, 128, 1, 8);
        AssertOneLineError(greyTif, "grey");

        var deep = _dir["deep.tif"];
        WriteTiff(deep, 128, 128, 3, 16);
        AssertOneLineError(deep, "16-bit");

        var whole = _dir["whole.tif"];
        var rng = new Random(3);
        TiledTiffWriter.Write(whole, [(512, 512, 0.972)], 128, (_, _, _, tile) => rng.NextBytes(tile));
        var truncated = _dir["truncated.tif"];
        var bytes = File.ReadAllBytes(whole);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        var e = Assert.ThrowsAny<PCamDataException>(() =>
        {
            using var s = SlideImage.Open(truncated);
            var buf = new byte[512 * 512 * 3];
            s.ReadRegion(0, 0, 512, 512, buf);
        });
        Assert.Contains(truncated, e.Message);
        Assert.DoesNotContain('\n', e.Message);

    }

    [SkippableFact]
    public void ImageSmallerThanAWindowIsAOneLineCommandError()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var small = _dir["small.png"];
        WritePng(small, new byte[64 * 64 * 3], 64, 64);
        var run = CliTests.Pcam("heatmap", "--model", f.ModelPath, small, "--output", _dir["o"], "--mpp", "0.972");
        Assert.Equal(3, run.Code); // a failed slide
        var line = Assert.Single(run.Err.Trim().Split('\n'), l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.Contains(small, line);
        Assert.Contains("smaller than one 96x96 window", line);
        Assert.False(Directory.Exists(Path.Combine(_dir["o"], "slides", "small")));
    }
}
