using PCam.MLNet.Slides.Annotations;
using PCam.MLNet.Slides.Evaluation;
using PCam.MLNet.Slides.Patches;
using Xunit;
using PCam.MLNet.Training;

namespace PCam.MLNet.Tests.Slides;

public sealed class EvaluationTests
{
    [Fact]
    public void FrocMatchesAHandComputedCase()
    {
        // Tumour slide A: false positives 0.8 and 0.3, its two lesions found at 0.9 and 0.5; normal slide B: FPs 0.6, 0.2.
        // Thresholds 0.3, 0.5, 0.6, 0.8, 0.9 give FPs/slide 1.5, 1, 1, 0.5, 0 and sensitivity 1, 1, 0.5, 0.5, 0.5, then (0, 0).
        // Interpolated (numpy.interp on the reversed curve) at 1/4, 1/2, 1, 2, 4, 8: 0.5, 0.5, 1, 1, 1, 1 -> 5/6
        // (the same numbers come out of Evaluation_FROC.py's computeFROC with numpy).
        var froc = Froc.Compute([new FrocSlide("A", [0.8, 0.3], [0.9, 0.5], 2), new FrocSlide("B", [0.6, 0.2], [], 0)]);
        Assert.Equal([1.5, 1, 1, 0.5, 0, 0], froc.AverageFalsePositives);
        Assert.Equal([1, 1, 0.5, 0.5, 0.5, 0], froc.Sensitivity);
        Assert.Equal([0.5, 0.5, 1, 1, 1, 1], froc.SensitivityAt);
        Assert.Equal(5 / 6.0, froc.Score, 12);
    }

    [Fact]
    public void FrocMatchesASecondHandComputedCaseWithAMissedLesionAndTies()
    {
        // Worked by hand with Evaluation_FROC.py's computeFROC steps. A: FP 0.7, lesions found at 0.7 and missed (TP
        // probability 0, as compute_FP_TP_Probs leaves it); B (normal): FPs 0.9, 0.4; C: one lesion found at 0.4.
        // FPs [0.7, 0.9, 0.4], TPs [0.7, 0, 0.4], 3 slides, 3 lesions. Distinct probabilities 0, 0.4, 0.7, 0.9; thresholds
        // after the smallest: 0.4 -> 3 FP, 2 TP; 0.7 -> 2 FP, 1 TP (ties count: >=); 0.9 -> 1 FP, 0 TP; then (0, 0).
        // FPs/slide 1, 2/3, 1/3, 0; sensitivity 2/3, 1/3, 0, 0. Reversed for numpy.interp: xs 0, 1/3, 2/3, 1 and
        // ys 0, 0, 1/3, 2/3; at 1/4 -> 0; at 1/2 -> 1/6 (halfway from 1/3 to 2/3); at 1, 2, 4, 8 -> 2/3.
        // Score = (0 + 1/6 + 4 x 2/3) / 6 = 17/36.
        var froc = Froc.Compute([new FrocSlide("A", [0.7], [0.7, 0], 2), new FrocSlide("B", [0.9, 0.4], [], 0), new FrocSlide("C", [], [0.4], 1)]);
        Assert.Equal([1, 2 / 3.0, 1 / 3.0, 0], froc.AverageFalsePositives, new ToleranceComparer(1e-12));
        Assert.Equal([2 / 3.0, 1 / 3.0, 0, 0], froc.Sensitivity, new ToleranceComparer(1e-12));
        Assert.Equal([0, 1 / 6.0, 2 / 3.0, 2 / 3.0, 2 / 3.0, 2 / 3.0], froc.SensitivityAt, new ToleranceComparer(1e-12));
        Assert.Equal(17 / 36.0, froc.Score, 12);
    }

    sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(double obj) => 0;
    }

    [Fact]
    public void InterpFollowsNumpyOnRepeatedX()
    {
        double[] xs = [0, 0, 0.5, 1, 1, 1.5], ys = [0, 0.5, 0.5, 0.5, 1, 1];
        Assert.Equal(0.5, Froc.Interp(0, xs, ys)); // numpy.interp(0, ...) = 0.5 (last of the run)
        Assert.Equal(1, Froc.Interp(1, xs, ys));
        Assert.Equal(0.5, Froc.Interp(0.75, xs, ys));
        Assert.Equal(1, Froc.Interp(9, xs, ys));
        Assert.Equal(0.75, Froc.Interp(0.25, [0, 0.5], [0.5, 1]));
    }

    [Fact]
    public void DistanceTransformIsExact()
    {
        var rng = new Random(3);
        int w = 23, h = 17;
        var mask = Enumerable.Range(0, w * h).Select(_ => rng.NextDouble() < 0.05).ToArray();
        var d2 = EvaluationMask.SquaredDistanceToTrue(mask, w, h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                double best = double.MaxValue;
                for (int v = 0; v < h; v++)
                    for (int u = 0; u < w; u++)
                        if (mask[v * w + u]) best = Math.Min(best, (x - u) * (x - u) + (y - v) * (y - v));
                Assert.Equal(best, d2[y * w + x]);
            }
    }

    [Fact]
    public void EvaluationMaskSeparatesLesionsAndMarksIsolatedTumourCells()
    {
        // 0.243 um/px level 0, mask pixels 7.776 um. A 2000 px (486 um) square lesion; a 100 px (24 um) square far away:
        // grown by 37.5 um it is ~100 um across, major axis 1.15 x 100 < 275 um: ITC. A ring lesion's hole is filled.
        var big = new AnnotationPolygon([[(4000, 4000), (6000, 4000), (6000, 6000), (4000, 6000)]]);
        var small = new AnnotationPolygon([[(20000, 20000), (20100, 20000), (20100, 20100), (20000, 20100)]]);
        var ring = new AnnotationPolygon([[(10000, 20000), (14000, 20000), (14000, 24000), (10000, 24000)], [(10400, 20400), (13600, 20400), (13600, 23600), (10400, 23600)]]);
        var a = new SlideAnnotation("t", [big, small, ring], []);
        var mask = EvaluationMask.Build(a, 30000, 30000, 0.243);
        Assert.Equal(3, mask.LesionCount);
        Assert.Equal(2, mask.DetectableLesions);
        int bigLabel = mask.LabelAt(5000, 5000), smallLabel = mask.LabelAt(20050, 20050), ringHole = mask.LabelAt(12000, 22000);
        Assert.True(bigLabel > 0 && smallLabel > 0 && ringHole > 0);
        Assert.False(mask.IsItc(bigLabel));
        Assert.True(mask.IsItc(smallLabel));
        Assert.False(mask.IsItc(ringHole));
        Assert.Equal(0, mask.LabelAt(8000, 8000));
        // Grown by 37.5 um = 154 level-0 px: a point 100 px outside the big square is in its lesion, 300 px is not.
        Assert.Equal(bigLabel, mask.LabelAt(6100, 5000));
        Assert.Equal(0, mask.LabelAt(6300, 5000));

        // compute_FP_TP_Probs: a hit on the lesion is a TP (best probability kept), on the ITC neither, elsewhere an FP.
        var slide = SlideScoring.FrocFor("t", [(0.7, 5000, 5000), (0.9, 4500, 4500), (0.8, 20050, 20050), (0.6, 8000, 8000)], mask, isTumour: true);
        Assert.Equal([0.6], slide.FalsePositiveProbabilities);
        Assert.Equal(0.9, slide.TruePositiveProbabilities[bigLabel - 1]);
        Assert.Equal(0, slide.TruePositiveProbabilities[smallLabel - 1]);
        Assert.Equal(2, slide.Lesions);
    }

    [Fact]
    public void RankAucCountsTiesHalf()
    {
        Assert.Equal(1.0, Curves.Auc([(0.9f, true), (0.1f, false)]));
        Assert.Equal(0.5, Curves.Auc([(0.5f, true), (0.5f, false)]));
        Assert.Equal(0.75, Curves.Auc([(0.8f, true), (0.4f, true), (0.6f, false), (0.2f, false)]));
        Assert.True(double.IsNaN(Curves.Auc([(0.8f, true)])));
    }

    [Theory]
    [InlineData(10, 3, 0)]
    [InlineData(3, 1, 1)]
    [InlineData(25, 8, 7)]
    public void Slides_split_whole_and_in_proportion(int n, int tumour, int seed)
    {
        var isTumour = Enumerable.Range(0, n).Select(i => i < tumour).ToArray();
        var split = SlideSplitter.Assign(isTumour, [0.8, 0.1, 0.1], seed);
        Assert.Equal(n, split.Length);
        Assert.All(split, s => Assert.InRange(s, 0, 2));
        var counts = Enumerable.Range(0, 3).Select(s => split.Count(x => x == s)).ToArray();
        Assert.All(counts, c => Assert.True(c >= 1, $"every split gets a slide when there are enough: {string.Join(",", counts)}"));
        Assert.True(counts[0] >= counts[1] && counts[0] >= counts[2]);
        Assert.Equal(split, SlideSplitter.Assign(isTumour, [0.8, 0.1, 0.1], seed)); // seeded
        if (tumour >= 3) // enough tumour slides: every split has one, so every split has both classes
            Assert.All(Enumerable.Range(0, 3), s => Assert.Contains(Enumerable.Range(0, n), i => split[i] == s && isTumour[i]));
    }
}
