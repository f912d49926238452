using System.Globalization;
using System.Text.Json.Nodes;
using PCam.MLNet.Data;
using PCam.MLNet.Tests.Cli;
using PCam.MLNet.Tests.Data;
using Xunit;
using PCam.MLNet.Slides.Reading;
using PCam.MLNet.Slides.Windows;

namespace PCam.MLNet.Tests.Slides;

/// <summary>
/// Generated slides with drawn tumour and its annotation in both formats, through `pcam patches`: labels match the
/// geometry exactly, slides never share a split, rows line up with the slide's pixels, and `pcam verify` accepts it.
/// </summary>
public sealed class PatchesTests(Xunit.Abstractions.ITestOutputHelper log) : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    /// <summary>Slide id -> (side, um/px, pyramid, tumour, annotation format).</summary>
    internal static readonly (string Id, int Side, double Mpp, bool Pyramid, bool Tumour, string? Format)[] Cohort =
    [
        ("s0", 1024, 0.486, true, true, "geojson"),
        ("s1", 1024, 0.486, true, true, "xml"),
        ("s2", 1000, 0.6, false, true, "geojson"), // windows resampled (1.62 level pixels per window pixel)
        ("s3", 1024, 0.486, true, true, "xml"),
        ("s4", 1024, 0.486, true, false, null),
        ("s5", 1000, 0.6, false, false, null),
    ];

    internal static (string Slides, string Annotations) WriteCohort(TempDir dir)
    {
        string slides = dir["slides"], annotations = dir["annotations"];
        Directory.CreateDirectory(slides);
        Directory.CreateDirectory(annotations);
        int seed = 0;
        foreach (var (id, side, mpp, pyramid, tumour, format) in Cohort)
        {
            var t = tumour ? SyntheticSlides.Tumour.For(side) : null;
            SyntheticSlides.Write(Path.Combine(slides, id + ".tif"), side, mpp, t, seed++, pyramid);
            if (format == "geojson") File.WriteAllText(Path.Combine(annotations, id + ".geojson"), SyntheticSlides.GeoJson(t!));
            if (format == "xml") File.WriteAllText(Path.Combine(annotations, id + ".xml"), SyntheticSlides.AsapXml(t!));
        }
        return (slides, annotations);
    }

    internal sealed record Row(string Slide, long MinX, long MinY, bool Label, string Split, double Fraction, int Index);

    internal static List<Row> ReadCsv(string path)
    {
        var lines = File.ReadAllLines(path);
        Assert.Equal("slide_id,minx,miny,label,split,tumour_fraction,row", lines[0]);
        return lines.Skip(1).Select(l => l.Split(',')).Select(c => new Row(c[0], long.Parse(c[1], CultureInfo.InvariantCulture),
            long.Parse(c[2], CultureInfo.InvariantCulture), c[3] == "1", c[4], double.Parse(c[5], CultureInfo.InvariantCulture), int.Parse(c[6], CultureInfo.InvariantCulture))).ToList();
    }

    [Fact]
    public void PatchLabelsMatchTheDrawnGeometryAndSplitsNeverShareASlide()
    {
        var (slides, annotations) = WriteCohort(_dir);
        var output = _dir["set"];
        var (code, stdout, err) = CliTests.Pcam("patches", "--slides", slides, "--annotations", annotations, "--output", output,
            "--seed", "3", "--max-per-slide", "60", "--split", "0.5,0.25,0.25");
        Assert.True(code == 0, err);
        Assert.Contains("camelyonpatch_level_2_split_train_x.h5", stdout);
        var rows = ReadCsv(Path.Combine(output, "patches.csv"));

        // Labels: PCam's rule computed by plain arithmetic on the drawn rectangles.
        int tumourRows = 0, partial = 0;
        foreach (var r in rows)
        {
            var c = Cohort.Single(s => s.Id == r.Slide);
            using var slide = SlideImage.Open(Path.Combine(slides, r.Slide + ".tif"));
            var sampling = WindowSampling.Choose(slide);
            double p = sampling.Scale * slide.Levels[sampling.Level].DownsampleX;
            int expected = c.Tumour ? SyntheticSlides.Tumour.For(c.Side).CentreCount(r.MinX, r.MinY, p) : 0;
            Assert.True(r.Label == expected > 0, $"{r.Slide} ({r.MinX},{r.MinY}): label {r.Label}, {expected} tumour centre pixels");
            Assert.Equal(expected / 1024.0, r.Fraction); // k/1024 is written exactly
            if (r.Label) tumourRows++;
            if (expected is > 0 and < 1024) partial++;
        }
        Assert.True(tumourRows > 20 && partial > 0, $"{tumourRows} tumour rows, {partial} on a border");

        // Splits: every slide in exactly one; every split present; dataset.json agrees.
        var splitOf = rows.GroupBy(r => r.Slide).ToDictionary(g => g.Key, g => g.Select(r => r.Split).Distinct().ToList());
        Assert.All(splitOf, kv => Assert.Single(kv.Value));
        Assert.Equal(["test", "train", "valid"], rows.Select(r => r.Split).Distinct().Order());
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "dataset.json")))!;
        foreach (var split in new[] { "train", "valid", "test" })
            foreach (var id in json["splits"]![split]!["slides"]!.AsArray().Select(n => n!.GetValue<string>()))
                if (splitOf.TryGetValue(id, out var s)) Assert.Equal(split, s[0]);
        Assert.Equal(rows.Count(r => r.Split == "train"), json["splits"]!["train"]!["patches"]!.GetValue<int>());

        // The HDF5 rows are the CSV rows: labels, shapes, and pixels read back from the slide at the CSV's position.
        foreach (var split in new[] { PCamSplit.Train, PCamSplit.Valid, PCamSplit.Test })
        {
            var mine = rows.Where(r => r.Split == split.FileToken()).OrderBy(r => r.Index).ToList();
            using var view = PCamData.Open(output, split);
            Assert.Equal(mine.Count, view.Source.RowCount);
            if (split == PCamSplit.Train) Assert.Equal(mine.Count / 2, mine.Count(r => r.Label)); // balanced
            var buffer = new byte[PatchSchema.ImageBytes];
            var direct = new byte[PatchSchema.ImageBytes];
            for (int k = 0; k < mine.Count; k++)
            {
                Assert.Equal(k, mine[k].Index);
                Assert.Equal(mine[k].Label, view.Source.GetLabel(k));
                if (k % 7 != 0) continue;
                view.Source.ReadImages(k, 1, buffer);
                using var slide = SlideImage.Open(Path.Combine(slides, mine[k].Slide + ".tif"));
                var sampling = WindowSampling.Choose(slide);
                slide.SelectLevel(sampling.Level);
                new SlideWindows(slide, sampling).ReadAtLevel0(mine[k].MinX, mine[k].MinY, direct);
                Assert.True(buffer.AsSpan().SequenceEqual(direct), $"{split} row {k} differs from {mine[k].Slide} at ({mine[k].MinX},{mine[k].MinY})");
            }
        }

        var verify = CliTests.Pcam("verify", output);
        Assert.True(verify.Code == 0, verify.Out + verify.Err);
        Assert.Contains("train  ok", verify.Out);

        // Same seed, same set; --gzip writes .h5.gz that verify reads too.
        var again = _dir["again"];
        Assert.Equal(0, CliTests.Pcam("patches", "--slides", slides, "--annotations", annotations, "--output", again,
            "--seed", "3", "--max-per-slide", "60", "--split", "0.5,0.25,0.25", "--gzip").Code);
        Assert.Equal(File.ReadAllText(Path.Combine(output, "patches.csv")), File.ReadAllText(Path.Combine(again, "patches.csv")));
        Assert.True(File.Exists(Path.Combine(again, "camelyonpatch_level_2_split_train_x.h5.gz")));
        Assert.False(File.Exists(Path.Combine(again, "camelyonpatch_level_2_split_train_x.h5")));
        var verifyGz = CliTests.Pcam("verify", again, "--cache-dir", _dir["cache"]);
        Assert.True(verifyGz.Code == 0, verifyGz.Out + verifyGz.Err);
    }

    /// <summary>Two 512 px slides at 0.972 um/px in their own folder: a.tif with the returned tumour, b.tif normal; an empty annotations folder.</summary>
    private (string Slides, string Annotations, SyntheticSlides.Tumour Tumour) TwoSmallSlides()
    {
        var slides = _dir["slides"];
        var annotations = _dir["annotations"];
        Directory.CreateDirectory(slides);
        Directory.CreateDirectory(annotations);
        var t = SyntheticSlides.Tumour.For(512);
        SyntheticSlides.Write(Path.Combine(slides, "a.tif"), 512, 0.972, t, 1, pyramid: false);
        SyntheticSlides.Write(Path.Combine(slides, "b.tif"), 512, 0.972, null, 2, pyramid: false);
        return (slides, annotations, t);
    }

    [Fact]
    public void AMalformedAnnotationIsOneErrorNamingItAndWritesNothing()
    {
        var (slides, annotations, t) = TwoSmallSlides();
        var bad = Path.Combine(annotations, "a.geojson");
        File.WriteAllText(bad, SyntheticSlides.GeoJson(t).Replace("\"Tumor\"", "\"Tumour\""));
        var output = _dir["set"];
        var (code, _, err) = CliTests.Pcam("patches", "--slides", slides, "--annotations", annotations, "--output", output);
        Assert.Equal(1, code);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
        Assert.Single(lines);
        Assert.StartsWith($"error: {bad}: no feature of class 'Tumor'", lines[0]);
        Assert.DoesNotContain("   at ", err);
        Assert.False(Directory.Exists(output) && Directory.EnumerateFiles(output, "*", SearchOption.AllDirectories).Any());

        File.WriteAllText(bad, """{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[100,100],[9000,100],[9000,400],[100,100]]]},"properties":{"classification":{"name":"Tumor"}}}]}"""); // outside the 512 px slide
        (code, _, err) = CliTests.Pcam("patches", "--slides", slides, "--annotations", annotations, "--output", output);
        Assert.Equal(1, code);
        Assert.Contains($"error: {bad}: a polygon spans", err);
    }

    /// <summary>
    /// patches -> train -> heatmap --annotations on the slides kept out of training: the windows of the held-out tumour
    /// slides are ranked well above chance against their annotation, and the run's cohort files are written.
    /// </summary>
    [Fact]
    public void PatchesTrainAndHeatmapWithAnnotationsRoundTrip()
    {
        var (slides, annotations) = WriteCohort(_dir);
        var set = _dir["set"];
        Assert.Equal(0, CliTests.Pcam("patches", "--slides", slides, "--annotations", annotations, "--output", set,
            "--seed", "3", "--max-per-slide", "60", "--split", "0.5,0.25,0.25").Code);
        var model = _dir["model.zip"];
        var train = CliTests.Pcam("train", "--data", set, "--model", model, "--image-size", "96", "--tta", "false", "--cache-dir", _dir["cache"]);
        Assert.True(train.Code == 0, train.Out + train.Err);

        var rows = ReadCsv(Path.Combine(set, "patches.csv"));
        var heldOut = rows.Where(r => r.Split != "train").Select(r => r.Slide).Distinct().Order().ToList();
        Assert.DoesNotContain(heldOut, id => rows.Any(r => r.Slide == id && r.Split == "train"));
        var output = _dir["heatmaps"];
        var args = new List<string> { "heatmap", "--model", model, "--output", output, "--annotations", annotations };
        args.AddRange(heldOut.Select(id => Path.Combine(slides, id + ".tif")));
        var heat = CliTests.Pcam([.. args]);
        Assert.True(heat.Code == 0, heat.Out + heat.Err);
        log.WriteLine(train.Out);
        log.WriteLine(heat.Out);
        Assert.Contains("against annotations", heat.Out);

        var tumourHeldOut = heldOut.Where(id => Cohort.Single(c => c.Id == id).Tumour).ToList();
        Assert.NotEmpty(tumourHeldOut);
        foreach (var id in tumourHeldOut)
        {
            var a = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "slides", id, id + ".summary.json")))!["annotations"]!;
            double auc = a["windowAuc"]!.GetValue<double>();
            Assert.True(auc > 0.85, $"{id}: window AUC {auc} (chance is 0.5)");
            Assert.True(a["tumourWindows"]!.GetValue<long>() > 0);
            Assert.True(a["lesionsDetected"]!.GetValue<int>() >= 1, $"{id}: no lesion detected");
            Assert.True(a["dice"]!.GetValue<double>() > 0.5, $"{id}: Dice {a["dice"]}");
        }
        var cohort = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "annotations.json")))!;
        Assert.Equal(heldOut.Count, cohort["slides"]!.GetValue<int>());
        // The cohort FROC is the Camelyon16 algorithm (checked on hand-computed cases in EvaluationTests) over exactly the
        // held-out slides' detections as their summaries record them, and the held-out tumours are found.
        var perSlide = heldOut.Select(id =>
        {
            var fr = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "slides", id, id + ".summary.json")))!["annotations"]!["froc"]!;
            return new PCam.MLNet.Slides.Evaluation.FrocSlide(id, fr["falsePositiveProbabilities"]!.AsArray().Select(n => n!.GetValue<double>()).ToList(),
                fr["truePositiveProbabilities"]!.AsArray().Select(n => n!.GetValue<double>()).ToList(), fr["lesions"]!.GetValue<int>());
        }).ToList();
        double score = cohort["froc"]!["score"]!.GetValue<double>();
        Assert.Equal(PCam.MLNet.Slides.Evaluation.Froc.Compute(perSlide).Score, score, 6);
        Assert.True(perSlide.Sum(s => s.Lesions) >= tumourHeldOut.Count);
        Assert.True(score > 0.5, $"FROC score {score}: the held-out tumours were each detected");
        Assert.True(File.Exists(Path.Combine(output, "froc.csv")));

        // slides.csv of the results folder carries the same per-slide numbers.
        var csv = File.ReadAllLines(Path.Combine(output, "slides.csv"));
        var header = csv[0].Split(',').ToList();
        Assert.Contains("window_auc", header);
        foreach (var id in tumourHeldOut)
        {
            var cells = csv.Single(l => l.StartsWith(id + ",", StringComparison.Ordinal)).Split(',');
            Assert.True(double.Parse(cells[header.IndexOf("window_auc")], CultureInfo.InvariantCulture) > 0.85);
        }

        // A rerun skips the finished slides (annotations unchanged) and still writes the cohort.
        var again = CliTests.Pcam([.. args]);
        Assert.True(again.Code == 0, again.Err);
        Assert.Contains("against annotations", again.Out);
        Assert.Contains("skipped", again.Err);
    }

    [Fact]
    public void ASlideListWithIdsAndLabelsFeedsPatches()
    {
        var (slides, annotations, t) = TwoSmallSlides();
        File.WriteAllText(Path.Combine(annotations, "a.xml"), SyntheticSlides.AsapXml(t)); // found by file stem
        var list = _dir["list.csv"];
        File.WriteAllText(list, "path,slide_id,label\nslides/a.tif,A,tumor\nslides/b.tif,B,0\n");
        var output = _dir["set"];
        var (code, _, err) = CliTests.Pcam("patches", "--list", list, "--annotations", annotations, "--output", output, "--split", "1,0,0");
        Assert.True(code == 0, err);
        var rows = ReadCsv(Path.Combine(output, "patches.csv"));
        Assert.Equal(["A", "B"], rows.Select(r => r.Slide).Distinct().Order());
        Assert.All(rows, r => Assert.Equal("train", r.Split));
        Assert.All(rows.Where(r => r.Slide == "B"), r => Assert.False(r.Label));
        Assert.Contains(rows, r => r.Label);
        Assert.False(File.Exists(Path.Combine(output, "camelyonpatch_level_2_split_valid_x.h5")));

        var labels = _dir["labels.csv"];
        File.WriteAllText(labels, "slide_id,label\nA,0\n");
        (code, _, err) = CliTests.Pcam("patches", "--list", list, "--annotations", annotations, "--labels", labels, "--output", output);
        Assert.Equal(1, code);
        Assert.Contains("marks tumour, but --labels calls slide 'A' normal", err);
    }
}
