using PCam.MLNet.Reporting;
using PCam.MLNet.Training;
using SkiaSharp;
using Xunit;

namespace PCam.MLNet.Tests.Reporting;

public class ReportWriterTests
{
    const string Model = "resnet18-lgbm";

    static ReportInput Input(IReadOnlyList<ScoredPatch> rows, List<long>? reads = null) => new()
    {
        ModelName = Model,
        Metrics = ReportFixtures.Metrics("test", rows, 0.87654, 0.93217, 0.34567),
        OtherSplits = [ReportFixtures.Metrics("valid", rows, 0.9, 0.95, 0.2)],
        Rows = rows,
        ReadPatch = (i, buf) => { reads?.Add(i); ReportFixtures.ReadPatch(i, buf); },
        RunDetails = ["backbone: resnet18 (ONNX)", "head: LightGBM, 200 trees"],
    };

    static SKBitmap Decode(string path)
    {
        var bmp = SKBitmap.Decode(path);
        Assert.True(bmp is not null, $"{path} does not decode as an image");
        return bmp;
    }

    [Fact]
    public void WriteProducesMarkdownWithBenchmarkRowsDetailsAndLinksToEveryPng()
    {
        using var tmp = new ReportFixtures.TempDir();
        var rows = ReportFixtures.Rows(500, 42);
        var md = ReportWriter.Write(Input(rows), tmp.Path);

        Assert.Equal(Path.Combine(tmp.Path, Model + ".report.md"), md);
        var text = File.ReadAllText(md);
        Assert.Contains("| Name | Acc | AUC | NLL |", text);
        Assert.Contains($"| {Model} (test) | 0.8765 | 0.9322 | 0.346 |", text);
        Assert.Contains($"| {Model} (valid) | 0.9000 | 0.9500 | 0.200 |", text);
        // The benchmark table comes first, before the fuller table and the Run section.
        Assert.True(text.IndexOf("| Name | Acc", StringComparison.Ordinal) < text.IndexOf("## Metrics", StringComparison.Ordinal));
        Assert.True(text.IndexOf("## Metrics", StringComparison.Ordinal) < text.IndexOf("## Run", StringComparison.Ordinal));
        Assert.Contains("| test | 500 | 0.8765 | 0.9322 | 0.346 | 0.8123 |", text);
        Assert.Contains("- head: LightGBM, 200 trees", text);

        var pngs = Directory.GetFiles(Path.Combine(tmp.Path, Model + ".report"));
        Assert.Equal(6, pngs.Length); // roc, pr, reliability, confusion, two galleries; no temp files left
        foreach (var png in pngs)
            Assert.Contains($"]({Model}.report/{Path.GetFileName(png)})", text);
        Assert.Empty(Directory.GetFiles(tmp.Path, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void PngsDecodeWithExpectedSizes()
    {
        using var tmp = new ReportFixtures.TempDir();
        var rows = ReportFixtures.Rows(500, 42);
        ReportWriter.Write(Input(rows), tmp.Path);
        var dir = Path.Combine(tmp.Path, Model + ".report");
        foreach (var f in new[] { ReportWriter.RocFile, ReportWriter.PrFile, ReportWriter.ReliabilityFile, ReportWriter.ConfusionFile })
        {
            using var bmp = Decode(Path.Combine(dir, f));
            Assert.Equal((600, 450), (bmp.Width, bmp.Height));
            // Not a blank canvas: a plot has many distinct colours.
            Assert.True(bmp.Pixels.Distinct().Count() > 10, $"{f} looks blank");
        }
    }

    [Fact]
    public void GalleriesHoldTheMostConfidentErrorsOneTileEach()
    {
        using var tmp = new ReportFixtures.TempDir();
        var rows = ReportFixtures.Rows(500, 42);
        var fp = rows.Where(r => !r.Label && r.PredictedLabel).OrderByDescending(r => r.Probability).ToList();
        var fn = rows.Where(r => r.Label && !r.PredictedLabel).OrderBy(r => r.Probability).ToList();
        Assert.True(fp.Count > 16 && fn.Count > 16, "fixture should have more errors than tiles");

        var reads = new List<long>();
        ReportWriter.Write(Input(rows, reads), tmp.Path);
        // Exactly the 16 most confident of each kind were read, in order.
        Assert.Equal(fp.Take(16).Select(r => r.Index).Concat(fn.Take(16).Select(r => r.Index)), reads);

        // 16 tiles: 8 per row, 2 rows of (192 tile + 36 caption + 8 padding), plus the outer padding.
        Assert.Equal((8 + 8 * 200, 8 + 2 * 236), ReportWriter.GallerySize(16));
        var dir = Path.Combine(tmp.Path, Model + ".report");
        foreach (var f in new[] { ReportWriter.FalsePositivesFile, ReportWriter.FalseNegativesFile })
        {
            using var bmp = Decode(Path.Combine(dir, f));
            Assert.Equal((1608, 480), (bmp.Width, bmp.Height));
        }

        // The first tile shows the patch pixels in RGB order at 2x (a pixel away from the outline and caption).
        using var gallery = Decode(Path.Combine(dir, ReportWriter.FalsePositivesFile));
        var (r, g, b) = ReportFixtures.PatchPixel(fp[0].Index, 10, 20);
        var px = gallery.GetPixel(8 + 20 * 2, 8 + 10 * 2);
        Assert.Equal((r, g, b), (px.Red, px.Green, px.Blue));
        var (cr, cg, cb) = ReportFixtures.PatchPixel(fp[0].Index, 48, 48);
        var centre = gallery.GetPixel(8 + 48 * 2, 8 + 48 * 2);
        Assert.Equal((cr, cg, cb), (centre.Red, centre.Green, centre.Blue));
    }

    [Fact]
    public void GallerySizeReflectsTileCount()
    {
        Assert.Equal((8 + 200, 8 + 236), ReportWriter.GallerySize(1));
        Assert.Equal((8 + 3 * 200, 8 + 236), ReportWriter.GallerySize(3));
        Assert.Equal((8 + 8 * 200, 8 + 236), ReportWriter.GallerySize(8));
        Assert.Equal((8 + 8 * 200, 8 + 2 * 236), ReportWriter.GallerySize(9));
    }

    [Fact]
    public void NoFalseNegativesStillWritesValidReportWithoutThatGallery()
    {
        using var tmp = new ReportFixtures.TempDir();
        var rows = ReportFixtures.Rows(500, 42);
        // Everything with a tumour label predicted tumour; keep three false positives.
        var noFn = rows.Select(r => r.Label ? r with { PredictedLabel = true, Probability = Math.Max(r.Probability, 0.5f) } : r).ToList();
        var fpCount = noFn.Count(r => !r.Label && r.PredictedLabel);
        var fewFp = noFn.Where(r => r.Label || !r.PredictedLabel).Concat(noFn.Where(r => !r.Label && r.PredictedLabel).Take(3)).ToList();
        Assert.True(fpCount >= 3);

        var md = ReportWriter.Write(Input(fewFp), tmp.Path);
        var text = File.ReadAllText(md);
        var dir = Path.Combine(tmp.Path, Model + ".report");
        Assert.Contains("_No false negatives in this split._", text);
        Assert.DoesNotContain(ReportWriter.FalseNegativesFile, text);
        Assert.False(File.Exists(Path.Combine(dir, ReportWriter.FalseNegativesFile)));

        using var fpBmp = Decode(Path.Combine(dir, ReportWriter.FalsePositivesFile));
        Assert.Equal(ReportWriter.GallerySize(3), (fpBmp.Width, fpBmp.Height));
        foreach (var f in new[] { ReportWriter.RocFile, ReportWriter.PrFile, ReportWriter.ReliabilityFile, ReportWriter.ConfusionFile })
        {
            Assert.Contains($"]({Model}.report/{f})", text);
            using var bmp = Decode(Path.Combine(dir, f));
            Assert.Equal((600, 450), (bmp.Width, bmp.Height));
        }
    }

    [Fact]
    public void RewriteRemovesImagesTheNewReportNoLongerHas()
    {
        using var tmp = new ReportFixtures.TempDir();
        var rows = ReportFixtures.Rows(200, 5);
        ReportWriter.Write(Input(rows), tmp.Path);
        var fnPath = Path.Combine(tmp.Path, Model + ".report", ReportWriter.FalseNegativesFile);
        Assert.True(File.Exists(fnPath));

        var perfect = rows.Select(r => r with { PredictedLabel = r.Label, Probability = r.Label ? 0.9f : 0.1f }).ToList();
        var text = File.ReadAllText(ReportWriter.Write(Input(perfect), tmp.Path));
        Assert.False(File.Exists(fnPath));
        Assert.Contains("_No false positives in this split._", text);
        Assert.Contains("_No false negatives in this split._", text);
    }

    [Fact]
    public void OneClassRowsSkipCurvesButWriteTheRest()
    {
        using var tmp = new ReportFixtures.TempDir();
        var rows = ReportFixtures.Rows(100, 3).Select(r => r with { Label = false }).ToList();
        var text = File.ReadAllText(ReportWriter.Write(Input(rows), tmp.Path));
        Assert.Contains("do not contain both classes", text);
        Assert.DoesNotContain(ReportWriter.RocFile, text);
        Assert.Contains(ReportWriter.ReliabilityFile, text);
        Assert.Contains(ReportWriter.ConfusionFile, text);
    }

    [Fact]
    public void ModelNameWithSpacesIsLinkedWithAnEscapedPath()
    {
        using var tmp = new ReportFixtures.TempDir();
        var input = Input(ReportFixtures.Rows(100, 9));
        var md = ReportWriter.Write(new ReportInput
        {
            ModelName = "my model", Metrics = input.Metrics, Rows = input.Rows, ReadPatch = input.ReadPatch,
        }, tmp.Path);
        var text = File.ReadAllText(md);
        Assert.Contains("](my%20model.report/roc.png)", text);
        Assert.True(File.Exists(Path.Combine(tmp.Path, "my model.report", "roc.png")));
        Assert.Contains("_No run details recorded._", text);
    }

    [Fact]
    public void ModelNameWithPathSeparatorIsRejected()
    {
        using var tmp = new ReportFixtures.TempDir();
        var input = Input(ReportFixtures.Rows(10, 1));
        Assert.Throws<ArgumentException>(() => ReportWriter.Write(new ReportInput
        {
            ModelName = "../evil", Metrics = input.Metrics, Rows = input.Rows, ReadPatch = input.ReadPatch,
        }, tmp.Path));
    }
}
