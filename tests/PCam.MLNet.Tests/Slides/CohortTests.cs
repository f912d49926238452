using PCam.MLNet.Data;
using PCam.MLNet.Slides.Cohort;
using PCam.MLNet.Tests.Cli;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Training;
using Xunit;
using PCam.MLNet.Slides.Reading;
using PCam.MLNet.Slides.Heatmap;

namespace PCam.MLNet.Tests.Slides;

/// <summary>
/// `pcam heatmap` over a folder of generated slides: good ones (a 0.972 um/px TIFF and a 20x Aperio-style pyramid), a
/// truncated TIFF and a 64 px image; resume, replaced slides, --force, shards from Slurm variables, kill -9.
/// </summary>
[Collection(SampleModelCollection.Name)]
public sealed class CohortTests(SampleModelFixture f) : IDisposable
{
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    static byte[] Tissue(int w, int h, int seed)
    {
        // Pink-purple noise: saturated enough to be tissue for the mask.
        var rng = new Random(seed);
        var b = new byte[w * h * 3];
        for (int i = 0; i < w * h; i++)
        {
            int n = rng.Next(-40, 40);
            b[i * 3] = (byte)Math.Clamp(200 + n, 0, 255); b[i * 3 + 1] = (byte)Math.Clamp(110 + n, 0, 255); b[i * 3 + 2] = (byte)Math.Clamp(170 + n, 0, 255);
        }
        return b;
    }

    static void Pcam972(string path, int side, int seed)
    {
        var rgb = Tissue(side, side, seed);
        TiledTiffWriter.Write(path, [(side, side, 0.972)], 128, (_, x, y, t) => TiledTiffWriter.CopyTile(rgb, side, side, x, y, t, 128));
    }

    /// <summary>slides/: a.tif, b.svs (20x pyramid), c.tif; broken/: truncated.tif, tiny.tif (64 px).</summary>
    string Cohort(bool broken)
    {
        var dir = _dir["slides"];
        Directory.CreateDirectory(dir);
        Pcam972(Path.Combine(dir, "a.tif"), 256, 1);
        SlideFixtures.Write20x(Path.Combine(dir, "b.svs"), SlideFixtures.Upsample(Tissue(256, 256, 2), 256, 256, 2), 512, 512, aperio: true);
        Pcam972(Path.Combine(dir, "c.tif"), 320, 3);
        if (broken)
        {
            Pcam972(_dir["whole.tif"], 512, 4);
            var bytes = File.ReadAllBytes(_dir["whole.tif"]);
            File.WriteAllBytes(Path.Combine(dir, "truncated.tif"), bytes[..(bytes.Length / 2)]);
            Pcam972(Path.Combine(dir, "tiny.tif"), 64, 5);
        }
        return dir;
    }

    static Dictionary<string, SlideRecord> Rows(string results) =>
        SlideRecord.ReadAll(Path.Combine(results, "slides.csv")).ToDictionary(r => r.SlideId);

    [SkippableFact]
    public void AFolderWithBadSlidesRecordsFailuresAndGoesOnThenResumes()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var slides = Cohort(broken: true);
        var results = _dir["results"];
        var run = CliTests.Pcam("heatmap", "--model", f.ModelPath, slides, "--output", results);
        Assert.Equal(3, run.Code);
        var rows = Rows(results);
        Assert.Equal(["a", "b", "c", "tiny", "truncated"], rows.Keys.Order());
        foreach (var id in new[] { "a", "b", "c" })
        {
            Assert.Equal(SlideRecord.Ok, rows[id].Status);
            Assert.Equal(0.972, rows[id].WindowMicronsPerPixel!.Value, 6);
            Assert.True(rows[id].WindowsScored > 0);
            foreach (var ext in new[] { ".tiles.csv", ".heatmap.png", ".geojson", ".tissue.png", ".summary.json" })
                Assert.True(File.Exists(Path.Combine(results, "slides", id, id + ext)), id + ext);
        }
        Assert.Equal((0, 2.0), (rows["b"].Level!.Value, rows["b"].Scale!.Value)); // the 20x pyramid: level 0 halved
        foreach (var id in new[] { "tiny", "truncated" })
        {
            Assert.Equal(SlideRecord.Failed, rows[id].Status);
            Assert.Contains(Path.Combine(slides, id + ".tif"), rows[id].Error);
            Assert.False(Directory.Exists(Path.Combine(results, "slides", id)));
        }
        Assert.Contains("smaller than one", rows["tiny"].Error);
        Assert.Equal(2, run.Err.Split('\n').Count(l => l.StartsWith("error: ", StringComparison.Ordinal)));
        Assert.True(File.Exists(Path.Combine(results, "run.json")));
        var tiles = File.ReadAllText(Path.Combine(results, "slides", "a", "a.tiles.csv"));
        var first = rows;

        // Rerun: finished slides are skipped, failed ones are tried again.
        var again = CliTests.Pcam("heatmap", "--model", f.ModelPath, slides, "--output", results);
        Assert.Equal(3, again.Code);
        rows = Rows(results);
        Assert.All(new[] { "a", "b", "c" }, id => Assert.Equal(SlideRecord.Skipped, rows[id].Status));
        Assert.All(new[] { "a", "b", "c" }, id => Assert.Equal((first[id].SlideScore, first[id].WindowsScored), (rows[id].SlideScore, rows[id].WindowsScored)));
        Assert.All(new[] { "a", "b", "c" }, id => Assert.NotNull(first[id].SlideScore));
        Assert.All(new[] { "tiny", "truncated" }, id => Assert.Equal(SlideRecord.Failed, rows[id].Status));

        // A slide replaced between runs is redone; --fail-fast stops at the first failure (ids in order: a, b, c, tiny).
        Pcam972(Path.Combine(slides, "c.tif"), 320, 33);
        File.SetLastWriteTimeUtc(Path.Combine(slides, "c.tif"), DateTime.UtcNow.AddMinutes(1));
        var ff = CliTests.Pcam("heatmap", "--model", f.ModelPath, slides, "--output", results, "--fail-fast");
        Assert.Equal(3, ff.Code);
        var shardRows = SlideRecord.ReadAll(Path.Combine(results, "shards", "shard-0-of-1.csv")).ToDictionary(r => r.SlideId);
        Assert.Equal(["a", "b", "c", "tiny"], shardRows.Keys.Order());
        Assert.Equal((SlideRecord.Skipped, SlideRecord.Skipped, SlideRecord.Ok), (shardRows["a"].Status, shardRows["b"].Status, shardRows["c"].Status));

        // --force redoes everything; a good slide gives the same tiles.
        var forced = CliTests.Pcam("heatmap", "--model", f.ModelPath, slides, "--output", results, "--force");
        Assert.Equal(3, forced.Code);
        Assert.All(new[] { "a", "b", "c" }, id => Assert.Equal(SlideRecord.Ok, Rows(results)[id].Status));
        Assert.Equal(tiles, File.ReadAllText(Path.Combine(results, "slides", "a", "a.tiles.csv")));
        Assert.Empty(Directory.GetFileSystemEntries(results, "*.tmp", SearchOption.AllDirectories));
    }

    [SkippableFact]
    public void TwoSlurmArrayTasksGiveTheSameOutputsAsOneRunAndAKilledRunResumes()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var slides = Cohort(broken: false);
        var whole = _dir["whole"];
        Assert.Equal(0, CliTests.Pcam("heatmap", "--model", f.ModelPath, slides, "--output", whole).Code);

        var sharded = _dir["sharded"];
        foreach (var task in new[] { "4", "5" }) // sbatch --array=4-5
        {
            var env = new Dictionary<string, string?> { ["SLURM_ARRAY_TASK_ID"] = task, ["SLURM_ARRAY_TASK_MIN"] = "4", ["SLURM_ARRAY_TASK_COUNT"] = "2" };
            var r = ChildProcess.Run(ChildProcess.PcamDll, ["heatmap", "--model", f.ModelPath, slides, "--output", sharded], environment: env);
            Assert.True(r.Code == 0, r.Err);
        }
        Assert.False(File.Exists(Path.Combine(sharded, "slides.csv"))); // shards write only their own records
        var a = SlideRecord.ReadAll(Path.Combine(sharded, "shards", "shard-0-of-2.csv")).Select(r => r.SlideId).ToHashSet();
        var b = SlideRecord.ReadAll(Path.Combine(sharded, "shards", "shard-1-of-2.csv")).Select(r => r.SlideId).ToHashSet();
        Assert.Empty(a.Intersect(b));
        Assert.Equal(["a", "b", "c"], a.Union(b).Order());
        Assert.NotEmpty(a); Assert.NotEmpty(b);
        var report = CliTests.Pcam("heatmap-report", sharded);
        Assert.True(report.Code == 0, report.Err);
        var one = Rows(whole);
        var merged = Rows(sharded);
        Assert.Equal(one.Keys.Order(), merged.Keys.Order());
        foreach (var id in one.Keys)
        {
            Assert.Equal((one[id].Status, one[id].SlideScore, one[id].WindowsScored, one[id].Regions), (merged[id].Status, merged[id].SlideScore, merged[id].WindowsScored, merged[id].Regions));
            Assert.Equal(File.ReadAllText(Path.Combine(whole, "slides", id, id + ".tiles.csv")), File.ReadAllText(Path.Combine(sharded, "slides", id, id + ".tiles.csv")));
            Assert.Equal(File.ReadAllText(Path.Combine(whole, "slides", id, id + ".geojson")), File.ReadAllText(Path.Combine(sharded, "slides", id, id + ".geojson")));
        }

        // Only one shard has run: the report names the missing slides (exit 4).
        var partial = _dir["partial"];
        Assert.Equal(0, CliTests.Pcam("heatmap", "--model", f.ModelPath, slides, "--output", partial, "--shard", "0/2").Code);
        var rep = CliTests.Pcam("heatmap-report", partial);
        Assert.Equal(4, rep.Code);
        foreach (var id in b) Assert.Contains($"missing {id}", rep.Err);

        // kill -9 while slide b's outputs sit complete in their temp folder: a is finished, b is not.
        var killed = _dir["killed"];
        var k = ChildProcess.Run(ChildProcess.PcamDll, ["heatmap", "--model", f.ModelPath, slides, "--output", killed],
            environment: Robustness.KillAt.Environment("slide:b"));
        Assert.NotEqual(0, k.Code);
        Assert.True(File.Exists(Path.Combine(killed, "slides", "a", "a.summary.json")));
        Assert.False(Directory.Exists(Path.Combine(killed, "slides", "b")));
        Assert.Equal(137, k.Code); // 128 + SIGKILL: killed by the injected hook, not failed some other way
        Assert.NotEmpty(Directory.GetDirectories(Path.Combine(killed, "slides"), ".b~*.tmp")); // what kill -9 leaves
        var resumed = CliTests.Pcam("heatmap", "--model", f.ModelPath, slides, "--output", killed);
        Assert.True(resumed.Code == 0, resumed.Err);
        var after = Rows(killed);
        Assert.Equal((SlideRecord.Skipped, SlideRecord.Ok, SlideRecord.Ok), (after["a"].Status, after["b"].Status, after["c"].Status));
        Assert.Empty(Directory.GetFileSystemEntries(killed, "*.tmp", SearchOption.AllDirectories));
        Assert.Equal(File.ReadAllText(Path.Combine(whole, "slides", "b", "b.tiles.csv")), File.ReadAllText(Path.Combine(killed, "slides", "b", "b.tiles.csv")));
    }

    [SkippableFact]
    public void SlidesXAndXOmeWrittenByTwoShardsAtOnceBothComplete()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var slides = _dir["dotted"];
        Directory.CreateDirectory(slides);
        Pcam972(Path.Combine(slides, "x.ome.tif"), 320, 7); // the larger file: shard 0 of the plan
        Pcam972(Path.Combine(slides, "x.tif"), 256, 8);     // shard 1
        var results = _dir["dotted-results"];
        var inner = (Code: -1, Out: "", Err: "");
        // Shard 0 stops with x.ome's outputs complete in its temp folder; shard 1 then runs whole (cleaning slide x's leftover
        // temp folders) before shard 0 renames x.ome's folder into place: both shards write at once, deterministically.
        TestHooks.Flow.Value = stage =>
        {
            if (stage == "slide:x.ome") inner = CliTests.Pcam("heatmap", "--model", f.ModelPath, slides, "--output", results, "--shard", "1/2");
        };
        (int Code, string Out, string Err) outer;
        try { outer = CliTests.Pcam("heatmap", "--model", f.ModelPath, slides, "--output", results, "--shard", "0/2"); }
        finally { TestHooks.Flow.Value = null; }
        Assert.True(inner.Code == 0, inner.Err);
        Assert.True(outer.Code == 0, outer.Err);
        var plan = ShardPlan.Latest(results)!;
        Assert.Equal([("x", 1), ("x.ome", 0)], plan.Slides.Select(s => (s.SlideId, s.Shard)));
        var s0 = SlideRecord.ReadAll(Path.Combine(results, "shards", "shard-0-of-2.csv"));
        var s1 = SlideRecord.ReadAll(Path.Combine(results, "shards", "shard-1-of-2.csv"));
        Assert.Equal([("x.ome", SlideRecord.Ok)], s0.Select(r => (r.SlideId, r.Status)));
        Assert.Equal([("x", SlideRecord.Ok)], s1.Select(r => (r.SlideId, r.Status)));
        foreach (var id in new[] { "x", "x.ome" })
        {
            foreach (var ext in new[] { ".tiles.csv", ".heatmap.png", ".geojson", ".tissue.png", ".summary.json" })
                Assert.True(File.Exists(Path.Combine(results, "slides", id, id + ext)), id + ext);
            Assert.Contains($"\"slideId\": \"{id}\"", File.ReadAllText(Path.Combine(results, "slides", id, id + ".summary.json")));
        }
        Assert.Empty(Directory.GetFileSystemEntries(results, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void TempFolderNamesBelongToExactlyOneSlide()
    {
        var forX = HeatmapWriter.TempName("x");
        Assert.True(HeatmapWriter.IsTempOf(forX, "x"));
        Assert.False(HeatmapWriter.IsTempOf(HeatmapWriter.TempName("x.ome"), "x"));
        Assert.False(HeatmapWriter.IsTempOf(HeatmapWriter.TempName("x.1"), "x"));
        Assert.False(HeatmapWriter.IsTempOf(forX, "x.ome"));
        Assert.False(HeatmapWriter.IsTempOf(".x.0123456789abcdef0123456789abcdef.tmp", "x")); // a slide id may look like an old-style temp name
        Assert.NotEqual(forX, SlideInputs.Sanitize(forX)); // no slide id can be a temp folder's name
    }

    [SkippableFact]
    public void ASlideAddedBetweenTwoArrayTasksIsNeitherLostNorScoredTwice()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var slides = Cohort(broken: false);
        var results = _dir["late"];
        (int Code, string Out, string Err) Task(int k) => CliTests.Pcam("heatmap", "--model", f.ModelPath, slides, "--output", results, "--shard", $"{k}/2");
        List<SlideRecord> Shard(int k) => SlideRecord.ReadAll(Path.Combine(results, "shards", $"shard-{k}-of-2.csv"));

        Assert.Equal(0, Task(0).Code);
        Pcam972(Path.Combine(slides, "d.tif"), 288, 9); // copied in after task 0 started
        var t1 = Task(1);
        Assert.Equal(0, t1.Code);
        Assert.Contains("d.tif: not planned", t1.Err);
        var ids0 = Shard(0).Select(r => r.SlideId).ToList();
        var ids1 = Shard(1).Select(r => r.SlideId).ToList();
        Assert.Empty(ids0.Intersect(ids1));
        Assert.Equal(["a", "b", "c"], ids0.Concat(ids1).Order());
        Assert.False(Directory.Exists(Path.Combine(results, "slides", "d")));
        var report = CliTests.Pcam("heatmap-report", results);
        Assert.Equal(4, report.Code);
        Assert.Contains("not planned d (", report.Err);
        Assert.DoesNotContain("missing ", report.Err);

        // The next run (both tasks again, plan 1 being finished) plans d: scored once, the others skipped.
        Assert.Equal(0, Task(0).Code);
        Assert.Equal(0, Task(1).Code);
        Assert.Equal(2, ShardPlan.Latest(results)!.Generation);
        var rows = Shard(0).Concat(Shard(1)).ToList();
        Assert.Equal(["a", "b", "c", "d"], rows.Select(r => r.SlideId).Order());
        Assert.Equal(SlideRecord.Ok, rows.Single(r => r.SlideId == "d").Status);
        Assert.All(rows.Where(r => r.SlideId != "d"), r => Assert.Equal(SlideRecord.Skipped, r.Status));
        report = CliTests.Pcam("heatmap-report", results);
        Assert.True(report.Code == 0, report.Err);
        Assert.Equal(["a", "b", "c", "d"], Rows(results).Keys.Order());
    }

    [Fact]
    public void TasksStartingAtOnceAgreeOnOnePlanAndALaterListingDoesNotChangeIt()
    {
        var results = _dir["plan"];
        var slides = Enumerable.Range(0, 12).Select(i => new SlideInput($"s{i:D2}", $"/x/s{i:D2}.svs")).ToList();
        using var go = new ManualResetEventSlim();
        var plans = Enumerable.Range(0, 8).Select(t => System.Threading.Tasks.Task.Run(() =>
        {
            go.Wait();
            // Each task sees its own sizes (files still growing): whichever plan lands first is the one all follow.
            return ShardPlan.ReadOrCreate(results, 3, slides, s => 1000 + (int.Parse(s.SlideId[1..]) * 37 + t * 11) % 500);
        })).ToArray();
        go.Set();
        var all = plans.Select(p => p.Result).ToList();
        Assert.Single(Directory.GetFiles(Path.Combine(results, "shards"), "plan-*.json"));
        Assert.Empty(Directory.GetFiles(Path.Combine(results, "shards"), "*.tmp"));
        Assert.All(all, p => Assert.Equal(all[0].Slides, p.Slides));
        // A later task with one slide more and different sizes follows the same plan and names the newcomer.
        var later = slides.Append(new SlideInput("s99", "/x/s99.svs")).ToList();
        var again = ShardPlan.ReadOrCreate(results, 3, later, _ => 5);
        Assert.Equal(all[0].Slides, again.Slides);
        Assert.Equal(["s99"], again.NotPlanned(later).Select(s => s.SlideId));
        Assert.Throws<PCamDataException>(() => ShardPlan.ReadOrCreate(results, 2, later)); // unfinished plan of 3 shards
    }

    /// <summary>`pcam heatmap`'s cohort and sampling options as a user types them, each with its rows and exit code.</summary>
    [SkippableFact]
    public void HeatmapOptionsThroughTheCommandLine()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        var slides = Cohort(broken: false);
        var nested = Path.Combine(slides, "more");
        Directory.CreateDirectory(nested);
        Pcam972(Path.Combine(nested, "e.tif"), 256, 10);

        // Folders: top level only, then --recursive.
        var flat = _dir["opt-flat"];
        Assert.Equal(0, CliTests.Pcam("heatmap", "--model", f.ModelPath, slides, "--output", flat).Code);
        Assert.Equal(["a", "b", "c"], Rows(flat).Keys.Order());
        var deep = _dir["opt-deep"];
        Assert.Equal(0, CliTests.Pcam("heatmap", "--model", f.ModelPath, slides, "--output", deep, "--recursive").Code);
        Assert.Equal(["a", "b", "c", "e"], Rows(deep).Keys.Order());
        Assert.All(Rows(deep).Values, r => Assert.Equal(SlideRecord.Ok, r.Status));

        // --list with a file that is not there: a failed row naming it, the others scored, exit 3.
        var list = _dir["opt-list.csv"];
        File.WriteAllText(list, $"path,slide_id,label\n{Path.Combine(slides, "a.tif")},case-a,tumor\n{Path.Combine(slides, "gone.tif")},case-gone,normal\n");
        var listed = _dir["opt-list"];
        var run = CliTests.Pcam("heatmap", "--model", f.ModelPath, "--list", list, "--output", listed);
        Assert.Equal(3, run.Code);
        var rows = Rows(listed);
        Assert.Equal((SlideRecord.Ok, "tumor"), (rows["case-a"].Status, rows["case-a"].Label));
        Assert.Equal((SlideRecord.Failed, "normal"), (rows["case-gone"].Status, rows["case-gone"].Label));
        Assert.Contains($"{Path.Combine(slides, "gone.tif")}: no such file", rows["case-gone"].Error);
        Assert.Contains($"error: {Path.Combine(slides, "gone.tif")}: no such file", run.Err);

        // --level: the 20x pyramid's level 1 (1.944 um/px) enlarged to 0.972 um/px (scale 0.5) instead of level 0 halved.
        var levelled = _dir["opt-level"];
        Assert.Equal(0, CliTests.Pcam("heatmap", "--model", f.ModelPath, Path.Combine(slides, "b.svs"), "--output", levelled, "--level", "1").Code);
        var b = Rows(levelled)["b"];
        Assert.Equal((1, 0.5, 0.972), (b.Level!.Value, b.Scale!.Value, b.WindowMicronsPerPixel!.Value));

        // --shards N with a Kubernetes indexed job's JOB_COMPLETION_INDEX: that shard only; without the index, one error line.
        var indexed = _dir["opt-indexed"];
        var k1 = CliTests.PcamWith(new Dictionary<string, string> { ["JOB_COMPLETION_INDEX"] = "1" }, "heatmap", "--model", f.ModelPath, slides, "--output", indexed, "--shards", "2");
        Assert.True(k1.Code == 0, k1.Err);
        Assert.True(File.Exists(Path.Combine(indexed, "shards", "shard-1-of-2.csv")));
        Assert.False(File.Exists(Path.Combine(indexed, "shards", "shard-0-of-2.csv")));
        var plan = ShardPlan.Latest(indexed)!;
        Assert.Equal(plan.SlidesOf(1).Select(s => s.SlideId), SlideRecord.ReadAll(Path.Combine(indexed, "shards", "shard-1-of-2.csv")).Select(r => r.SlideId));
        Assert.Contains("Kubernetes indexed job", File.ReadAllText(Path.Combine(indexed, "shards", "shard-1-of-2.json")));
        var noIndex = CliTests.Pcam("heatmap", "--model", f.ModelPath, slides, "--output", _dir["opt-noindex"], "--shards", "2");
        Assert.Equal(1, noIndex.Code);
        Assert.Equal(["error: --shards N needs JOB_COMPLETION_INDEX (or give --shard K/N)."], noIndex.Err.Split('\n').Where(l => l.StartsWith("error:", StringComparison.Ordinal)));
        Assert.False(Directory.Exists(_dir["opt-noindex"]));
    }

    [SkippableFact]
    public void ReaderOptionPicksOpenSlideOrLibTiffWithTheSameRows()
    {
        Skip.If(SharedSample.Root is null, SharedSample.Missing);
        Skip.IfNot(NativeTools.OpenSlide, OpenSlideTests.Missing);
        var slides = Cohort(broken: false);
        var a = Path.Combine(slides, "a.tif");
        var lib = _dir["reader-libtiff"];
        var os = _dir["reader-openslide"];
        Assert.Equal(0, CliTests.Pcam("heatmap", "--model", f.ModelPath, a, "--output", lib, "--reader", "libtiff").Code);
        Assert.Equal(0, CliTests.Pcam("heatmap", "--model", f.ModelPath, a, "--output", os, "--reader", "openslide").Code);
        string Reader(string results) => (string)System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(results, "slides", "a", "a.summary.json")))!["reader"]!;
        Assert.StartsWith("OpenSlide", Reader(os));
        Assert.DoesNotContain("OpenSlide", Reader(lib));
        var (x, y) = (Rows(lib)["a"], Rows(os)["a"]);
        Assert.Equal((x.Level, x.Scale, x.WindowsScored), (y.Level, y.Scale, y.WindowsScored));
        Assert.Equal(x.SlideScore!.Value, y.SlideScore!.Value, 3);
    }

    [Fact]
    public void ShardsComeFromSlurmOrKubernetesAndSplitTheCohortStably()
    {
        static (int, int, string) T(Shard s) => (s.Index, s.Count, s.Source);
        Assert.Equal((1, 3, "Slurm array"), T(Shard.Resolve(null, null, n => n switch { "SLURM_ARRAY_TASK_ID" => "11", "SLURM_ARRAY_TASK_MIN" => "10", "SLURM_ARRAY_TASK_COUNT" => "3", _ => null })));
        Assert.Equal((2, 4, "Kubernetes indexed job"), T(Shard.Resolve(null, 4, n => n == "JOB_COMPLETION_INDEX" ? "2" : null)));
        Assert.Equal((0, 2, "--shard"), T(Shard.Resolve("0/2", null, _ => "7")));
        Assert.Equal((0, 1, "whole cohort"), T(Shard.Resolve(null, null, _ => null)));
        Assert.Throws<ArgumentException>(() => Shard.Resolve(null, null, n => n == "JOB_COMPLETION_INDEX" ? "2" : null));
        Assert.Throws<ArgumentException>(() => Shard.Parse("3/3"));
        var slides = Enumerable.Range(0, 20).Select(i => new SlideInput($"s{i:D2}", $"/x/s{i:D2}.svs")).ToList();
        long Size(SlideInput s) => 1000 + int.Parse(s.SlideId[1..]) * 100;
        var one = Shard.Assign(slides, 3, Size);
        var shuffled = slides.OrderByDescending(s => s.SlideId).ToList();
        var two = Shard.Assign(shuffled, 3, Size);
        Assert.All(slides, s => Assert.Equal(one[slides.IndexOf(s)], two[shuffled.IndexOf(s)])); // input order does not matter
        var loads = Enumerable.Range(0, 3).Select(k => slides.Where((_, i) => one[i] == k).Sum(Size)).ToArray();
        Assert.True(loads.Max() - loads.Min() <= 2900, string.Join(",", loads)); // within the largest slide
    }

    [Fact]
    public void ListCsvGivesIdsAndLabelsAndMissingFilesFailAsRows()
    {
        var dir = _dir["list"];
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "x.tif"), "x");
        File.WriteAllText(Path.Combine(dir, "cohort.csv"), "path,slide_id,label\nx.tif,patient-1,tumor\n\"gone, really.tif\",,normal\n");
        var list = SlideInputs.Collect([], list: Path.Combine(dir, "cohort.csv"));
        Assert.Equal(("patient-1", "tumor"), (list[0].SlideId, list[0].Label));
        Assert.Equal(("gone__really", "normal"), (list[1].SlideId, list[1].Label));
        Assert.Equal(Path.Combine(dir, "gone, really.tif"), list[1].Path);
        Assert.Throws<PCamDataException>(() => SlideInputs.Collect([_dir["nowhere"]]));

        // Ids that differ only in case would share a folder on a case-insensitive file system.
        File.WriteAllText(Path.Combine(dir, "X.tif"), "x");
        Assert.Equal(["X", "x-2"], SlideInputs.Collect([Path.Combine(dir, "X.tif"), Path.Combine(dir, "x.tif")]).Select(s => s.SlideId));
        File.WriteAllText(Path.Combine(dir, "cased.csv"), "path,slide_id\nx.tif,P1\nX.tif,p1\n");
        Assert.Contains("appears twice", Assert.Throws<PCamDataException>(() => SlideInputs.Collect([], list: Path.Combine(dir, "cased.csv"))).Message);
    }
}
