using System.Text.Json.Nodes;
using PCam.Benchmarks.Synthetic;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Tests.Cli;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Training;
using Xunit;
using PCam.MLNet.Slides.Heatmap;

namespace PCam.MLNet.Tests.Slides;

/// <summary>The coarse-to-fine plan on hand-made grids (no model).</summary>
public sealed class CoarseToFinePlanTests
{
    static List<(int, int)> All(int w, int h) => [.. Enumerable.Range(0, h).SelectMany(j => Enumerable.Range(0, w).Select(i => (i, j)))];

    [Fact]
    public void TheCoarseStageIsEveryThirdColumnAndRowOfTheTissue()
    {
        var tissue = All(10, 7).Where(c => c != (3, 3)).ToList();
        var coarse = CoarseToFine.Coarse(tissue, 3);
        Assert.Equal([(0, 0), (3, 0), (6, 0), (9, 0), (0, 3), (6, 3), (9, 3), (0, 6), (3, 6), (6, 6), (9, 6)], coarse);
    }

    [Fact]
    public void OneHotCoarseWindowRefinesItsBlockAndItsNeighboursBlocksOnly()
    {
        const int W = 30, H = 30, K = 3;
        var tissue = All(W, H);
        var p = new float[W * H];
        Array.Fill(p, float.NaN);
        foreach (var (i, j) in CoarseToFine.Coarse(tissue, K)) p[j * W + i] = 0.01f;
        p[15 * W + 15] = 0.9f; // coarse window (5, 5)
        var refine = CoarseToFine.Refine(tissue, p, W, H, K, threshold: 0.2);
        // Coarse windows (4..6, 4..6) own fine cells 11..19 each way: 81 cells, 9 of them coarse (already scored).
        Assert.Equal(81 - 9, refine.Count);
        Assert.All(refine, c => Assert.True(c.I is >= 11 and <= 19 && c.J is >= 11 and <= 19, $"{c}"));
        Assert.Equal(refine.OrderBy(c => c.J).ThenBy(c => c.I), refine); // row-major, the order the slide is read in
        // Below the threshold nothing is refined.
        p[15 * W + 15] = 0.19f;
        Assert.Empty(CoarseToFine.Refine(tissue, p, W, H, K, threshold: 0.2));
    }

    [Fact]
    public void FillGivesEachFineCellItsNearestScoredCoarseWindow()
    {
        const int W = 7, H = 4, K = 3;
        var tissue = All(W, H);
        var p = new float[W * H];
        Array.Fill(p, float.NaN);
        p[0] = 0.1f; p[3] = 0.2f; p[6] = 0.3f; p[3 * W] = 0.4f; p[3 * W + 3] = 0.5f; // (6, 3) is not tissue-scored
        CoarseToFine.Fill(tissue, p, W, H, K);
        Assert.Equal(0.1f, p[1 * W + 1]);
        Assert.Equal(0.2f, p[1 * W + 2]); // column 2 is nearer coarse column 3
        Assert.Equal(0.3f, p[0 * W + 5]);
        Assert.Equal(0.5f, p[2 * W + 4]);
        Assert.Equal(0.3f, p[3 * W + 6]); // its own coarse window was not scored: the nearest scored ones, (6, 0) and (3, 3), tie; row-major first
        Assert.DoesNotContain(p, float.IsNaN);
    }

    [Fact]
    public void TissueWithNoScoredCoarseWindowNearIsRefinedNotLeftOut()
    {
        const int W = 9, H = 9, K = 3;
        var tissue = new List<(int, int)> { (7, 7) }; // its coarse windows (6..9, 6..9) are all background
        var p = new float[W * H];
        Array.Fill(p, float.NaN);
        Assert.Equal([(7, 7)], CoarseToFine.Refine(tissue, p, W, H, K, 0.2));
    }

    [Fact]
    public void OptionsRejectACoarseStrideThatIsNotAMultipleAndBadViews()
    {
        Assert.Contains("HeatmapOptions.CoarseStride", Assert.Throws<ArgumentException>(() => new HeatmapOptions { Stride = 32, CoarseStride = 80 }.Validate()).Message);
        Assert.Contains("HeatmapOptions.Views", Assert.Throws<ArgumentException>(() => new HeatmapOptions { Views = 4 }.Validate()).Message);
        new HeatmapOptions { Stride = 32, CoarseStride = 80, Refine = false }.Validate(); // exhaustive: the coarse stride is unused
        Assert.Equal(1, new HeatmapOptions { Stride = 96 }.CoarseFactor); // nothing coarser than the stride: exhaustive
        Assert.Equal(3, new HeatmapOptions().CoarseFactor);
    }
}

/// <summary>
/// Coarse-to-fine against the exhaustive stride-32 run on the disc mosaic of real test patches (the sample model):
/// the same regions and disc coverage, and the same probability on every window it scores.
/// </summary>
[Collection(SampleModelCollection.Name)]
public sealed class CoarseToFineTests(SampleModelFixture f) : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    /// <summary>
    /// At the region threshold (refine >= 0.5) coarse-to-fine reproduces the exhaustive run's regions: every window that
    /// can start a region is refined with its neighbours. At the default (refine >= 0.9) the confident tumour is refined
    /// and the disc's region and coverage are kept; regions the exhaustive run draws from windows of 0.5-0.9 away from
    /// confident tumour (with the 512-row sample model: false positives) may shrink or vanish, never appear.
    /// </summary>
    [SkippableTheory]
    [InlineData(0.5, true)]
    [InlineData(CoarseToFine.DefaultThreshold, false)]
    public void CoarseToFineReproducesTheExhaustiveRegionsCoverageAndTiles(double refineThreshold, bool sameRegions)
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        using var view = PCamData.Open(SharedSample.H5, PCamSplit.Test, new PCamDataOptions { CacheDirectory = Path.Combine(f.CacheDir, "h5") });
        var mosaic = DiscMosaic.Build(view.Source);
        var tif = _dir["disc.tif"];
        mosaic.WriteTiff(tif);
        using var model = WindowModel.Load(f.ModelPath, ExecutionDevice.Cpu, batchSize: 32);
        var full = SlideHeatmap.Run(model, tif, new HeatmapOptions { Stride = 32, Refine = false });
        var fast = SlideHeatmap.Run(model, tif, new HeatmapOptions { RefineThreshold = refineThreshold });
        Assert.Equal((full.GridWidth, full.GridHeight), (fast.GridWidth, fast.GridHeight));
        Assert.Equal(["exhaustive"], full.Stages.Select(s => s.Name));
        Assert.Equal(["coarse", "refine"], fast.Stages.Select(s => s.Name));
        Assert.Equal(fast.WindowsScored, fast.Stages.Sum(s => s.Windows));
        Assert.Equal(full.WindowsScored, full.Stages.Single().Windows);
        Assert.True(fast.Stages[1].Windows > 0, "the disc was not refined");
        // What it saves depends on how many normal windows the model puts at the refine threshold or more.
        Assert.True(fast.WindowsScored < full.WindowsScored, $"coarse-to-fine scored {fast.WindowsScored} of {full.WindowsScored} windows");

        // Every window it scored (coarse and refined) has the exhaustive run's probability.
        int measured = 0;
        for (long c = 0; c < fast.Probability.Length; c++)
        {
            if (!fast.IsMeasured(c)) continue;
            measured++;
            Assert.True(Math.Abs(fast.Probability[c] - full.Probability[c]) <= 1e-4, $"cell {c}: {fast.Probability[c]} vs exhaustive {full.Probability[c]}");
        }
        Assert.Equal(fast.WindowsScored, measured);
        // The same tissue cells carry a value.
        Assert.Equal(full.Probability.Select(float.IsNaN), fast.Probability.Select(float.IsNaN));

        var disc = mosaic.DiscCells(32, full.GridWidth, full.GridHeight);
        double Coverage(HeatmapResult r) => r.Lesions.Lesions[0].Region.Cells.Count(disc.Contains) / (double)disc.Count;
        Assert.NotEmpty(full.Lesions.Lesions);
        Assert.NotEmpty(fast.Lesions.Lesions);
        Assert.InRange(Coverage(fast) - Coverage(full), -0.02, 0.02);
        var region = full.Lesions.Lesions[0].Region.Cells;
        if (sameRegions)
        {
            // Most windows of the exhaustive run's largest region were scored, not filled (with the sample model a few
            // cells at its edge near normal windows scored 0.5 or more lie outside every hot coarse window's neighbourhood).
            Assert.True(region.Count(c => fast.IsMeasured(c)) >= 0.98 * region.Count, $"{region.Count(c => fast.IsMeasured(c))} of {region.Count} region cells scored");
            Assert.Equal(full.Lesions.Lesions.Count, fast.Lesions.Lesions.Count);
            Assert.InRange(fast.Lesions.Lesions[0].Windows, 0.95 * full.Lesions.Lesions[0].Windows, 1.05 * full.Lesions.Lesions[0].Windows); // 1,758 vs 1,806 cells with the sample model
            Assert.Equal(full.Lesions.SlideScore!.Value, fast.Lesions.SlideScore!.Value, 4);
        }
        else
        {
            // The confident part of the disc's region (exhaustive windows at or above the refine threshold) was scored, not
            // filled (sample model: 581 of 608; the rest are isolated windows whose coarse neighbourhood stayed under it).
            var confident = region.Where(c => full.Probability[c] >= refineThreshold).ToList();
            Assert.NotEmpty(confident);
            Assert.True(confident.Count(c => fast.IsMeasured(c)) >= 0.9 * confident.Count, $"{confident.Count(c => fast.IsMeasured(c))} of {confident.Count} confident region cells scored");
            Assert.InRange(fast.Lesions.Lesions.Count, 1, full.Lesions.Lesions.Count); // sample model: 3 of 5 (the disc and two false positives)
        }

        // Replayed from the exhaustive run (how the bench sweeps the refine threshold), it scores the same windows.
        var replay = CoarseToFine.Replay(full, fast.Options);
        Assert.Equal(fast.Stages.Select(s => s.Windows), replay.Stages.Select(s => s.Windows));
        for (long c = 0; c < fast.Probability.Length; c++)
        {
            Assert.Equal(fast.IsMeasured(c), replay.IsMeasured(c));
            Assert.True(float.IsNaN(fast.Probability[c]) ? float.IsNaN(replay.Probability[c]) : Math.Abs(fast.Probability[c] - replay.Probability[c]) <= 1e-4, $"cell {c}");
        }
    }

    [SkippableFact]
    public void TheCohortRecordsWindowsAndSecondsPerStage()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        using var view = PCamData.Open(SharedSample.H5, PCamSplit.Test, new PCamDataOptions { CacheDirectory = Path.Combine(f.CacheDir, "h5") });
        var slides = _dir["slides"];
        Directory.CreateDirectory(slides);
        DiscMosaic.Build(view.Source, patches: 8, radius: 2).WriteTiff(Path.Combine(slides, "disc.tif"));
        var results = _dir["results"];
        var run = CliTests.Pcam("heatmap", "--model", f.ModelPath, slides, "--output", results);
        Assert.True(run.Code == 0, run.Err);
        Assert.Contains("Plan: 1 slide(s) to score", run.Err);
        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(results, "slides", "disc", "disc.summary.json")))!;
        var stages = summary["scoring"]!["stages"]!.AsArray();
        Assert.Equal(["coarse", "refine"], stages.Select(s => (string)s!["name"]!));
        Assert.Equal((long)summary["windowsScored"]!, stages.Sum(s => (long)s!["windows"]!));
        Assert.All(stages, s => Assert.True((double)s!["seconds"]! >= 0));
        var tiles = File.ReadAllLines(Path.Combine(results, "slides", "disc", "disc.tiles.csv")).Length - 1;
        Assert.Equal((long)summary["windowsScored"]!, tiles);
        var runJson = JsonNode.Parse(File.ReadAllText(Path.Combine(results, "run.json")))!;
        var total = runJson["scoring"]!["stages"]!.AsArray();
        Assert.Equal(stages.Select(s => (long)s!["windows"]!), total.Select(s => (long)s!["windows"]!));
        Assert.True((bool)runJson["settings"]!["refine"]!);

        // Exhaustive on request: one stage, every tissue window.
        var exhaustive = CliTests.Pcam("heatmap", "--model", f.ModelPath, slides, "--output", _dir["exhaustive"], "--stride", "32", "--no-refine");
        Assert.True(exhaustive.Code == 0, exhaustive.Err);
        var all = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir["exhaustive"], "slides", "disc", "disc.summary.json")))!;
        Assert.Equal(["exhaustive"], all["scoring"]!["stages"]!.AsArray().Select(s => (string)s!["name"]!));
        Assert.True((long)all["windowsScored"]! > (long)summary["windowsScored"]!);
    }
}
