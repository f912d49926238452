using PCam.MLNet.Slides.Annotations;
using PCam.MLNet.Slides.Heatmap;
using PCam.MLNet.Training;

namespace PCam.MLNet.Slides.Evaluation;

/// <summary>A heatmap's window grid in level-0 terms, whatever level and resampling produced it.</summary>
public sealed record ScoredGrid
{
    public required int GridWidth { get; init; }
    public required int GridHeight { get; init; }
    /// <summary>Probability per cell, row-major; NaN = not scored (background).</summary>
    public required float[] Probability { get; init; }
    /// <summary>Level-0 top-left of the window of cell (i, j).</summary>
    public required Func<int, int, (double X, double Y)> WindowOrigin { get; init; }
    /// <summary>Level-0 pixels per window pixel.</summary>
    public required double WindowPixel { get; init; }
    public required int Level0Width { get; init; }
    public required int Level0Height { get; init; }
    /// <summary>Level 0's um/px (null: unknown; the lesion metrics then use <see cref="SlideScoringOptions.AssumedMicronsPerPixel"/>).</summary>
    public double? MicronsPerPixel { get; init; }
}

public sealed class SlideScoringOptions
{
    /// <summary>Windows at or above this probability are predicted tumour (the heatmap's --threshold).</summary>
    public double Threshold { get; init; } = 0.5;
    /// <summary>Used for the evaluation mask when the slide does not give its pixel size.</summary>
    public double AssumedMicronsPerPixel { get; init; } = 0.243;
}

/// <summary>A slide's heatmap scored against its annotation (all counts over the window grid).</summary>
public sealed record SlideEvaluation
{
    public required string SlideId { get; init; }
    public required bool IsTumourSlide { get; init; }
    public required long WindowsScored { get; init; }
    public required long TumourWindows { get; init; }
    /// <summary>ROC AUC of window probability against the centre label (NaN when the scored windows hold one class).</summary>
    public required double WindowAuc { get; init; }
    public required double WindowAccuracy { get; init; }
    /// <summary>2|P∩T| / (|P|+|T|) over all grid cells: P = scored and at/above the threshold, T = centre label tumour (unscored cells count as predicted normal). NaN when both are empty.</summary>
    public required double Dice { get; init; }
    public required int Lesions { get; init; }
    public required int DetectableLesions { get; init; }
    /// <summary>Detectable (non-ITC) lesions touched by a predicted region.</summary>
    public required int LesionsDetected { get; init; }
    public required int PredictedRegions { get; init; }
    /// <summary>Predicted regions that touch no lesion of the evaluation mask.</summary>
    public required int FalsePositiveRegions { get; init; }
    /// <summary>One detection per predicted region: its highest probability at that window's centre (level 0).</summary>
    public required IReadOnlyList<(double Probability, double X, double Y)> Detections { get; init; }
    public required FrocSlide Froc { get; init; }
}

/// <summary>
/// Scores one slide's heatmap against its annotation: centre labels by <see cref="CentreLabel.Of"/> for every cell;
/// predicted regions = 8-connected cells at or above the threshold; each region is one FROC detection at its most
/// probable window's centre, scored on Camelyon16's <see cref="EvaluationMask"/>.
/// </summary>
public static class SlideScoring
{
    public static SlideEvaluation Score(string slideId, ScoredGrid grid, SlideAnnotation annotation, SlideScoringOptions? options = null)
    {
        options ??= new SlideScoringOptions();
        int gw = grid.GridWidth, gh = grid.GridHeight, n = gw * gh;
        var truth = new bool[n];
        var scores = new List<(float P, bool T)>();
        long tp = 0, fp = 0, fn = 0, correct = 0;
        for (int j = 0; j < gh; j++)
            for (int i = 0; i < gw; i++)
            {
                int k = j * gw + i;
                var (x, y) = grid.WindowOrigin(i, j);
                truth[k] = CentreLabel.Of(annotation, x, y, grid.WindowPixel).Label == true;
                float p = grid.Probability[k];
                bool predicted = !float.IsNaN(p) && p >= options.Threshold;
                if (predicted && truth[k]) tp++;
                else if (predicted) fp++;
                else if (truth[k]) fn++;
                if (float.IsNaN(p)) continue;
                scores.Add((p, truth[k]));
                if (predicted == truth[k]) correct++;
            }

        double mpp = grid.MicronsPerPixel ?? options.AssumedMicronsPerPixel;
        var mask = EvaluationMask.Build(annotation, grid.Level0Width, grid.Level0Height, mpp);
        var (regions, regionCount) = Regions(grid, options.Threshold);
        var detections = new List<(double P, double X, double Y)>();
        var touched = new HashSet<int>();
        int fpRegions = 0;
        double half = SlideHeatmap.Window / 2.0 * grid.WindowPixel;
        var best = Enumerable.Repeat((P: -1.0, K: -1), regionCount + 1).ToArray();
        var hits = new HashSet<int>[regionCount + 1];
        for (int k = 0; k < n; k++)
        {
            int r = regions[k];
            if (r == 0) continue;
            hits[r] ??= [];
            var (x, y) = grid.WindowOrigin(k % gw, k / gw);
            int label = mask.LabelAt(x + half, y + half);
            if (label > 0) hits[r].Add(label);
            if (grid.Probability[k] > best[r].P) best[r] = (grid.Probability[k], k);
        }
        for (int r = 1; r <= regionCount; r++)
        {
            if (hits[r].Count == 0) fpRegions++;
            touched.UnionWith(hits[r]);
            var (x, y) = grid.WindowOrigin(best[r].K % gw, best[r].K / gw);
            detections.Add((best[r].P, x + half, y + half));
        }
        bool isTumour = annotation.HasTumour && mask.LesionCount > 0;
        var froc = FrocFor(slideId, detections, mask, isTumour);
        return new SlideEvaluation
        {
            SlideId = slideId, IsTumourSlide = annotation.HasTumour,
            WindowsScored = scores.Count, TumourWindows = truth.LongCount(t => t),
            WindowAuc = Curves.Auc(scores), WindowAccuracy = scores.Count == 0 ? double.NaN : correct / (double)scores.Count,
            Dice = tp + fp + fn == 0 ? double.NaN : 2.0 * tp / (2.0 * tp + fp + fn),
            Lesions = mask.LesionCount, DetectableLesions = mask.DetectableLesions,
            LesionsDetected = touched.Count(l => !mask.IsItc(l)),
            PredictedRegions = regionCount, FalsePositiveRegions = fpRegions, Detections = detections, Froc = froc,
        };
    }

    /// <summary>compute_FP_TP_Probs of the Camelyon16 script for one slide.</summary>
    public static FrocSlide FrocFor(string slideId, IReadOnlyList<(double Probability, double X, double Y)> detections, EvaluationMask mask, bool isTumour)
    {
        var fps = new List<double>();
        var tps = new double[isTumour ? mask.LesionCount : 0];
        foreach (var (p, x, y) in detections)
        {
            int label = isTumour ? mask.LabelAt(x, y) : 0;
            if (label == 0) fps.Add(p);
            else if (!mask.IsItc(label) && p > tps[label - 1]) tps[label - 1] = p;
        }
        return new FrocSlide(slideId, fps, tps, isTumour ? mask.DetectableLesions : 0);
    }

    /// <summary>8-connected components of scored cells at or above the threshold (labels 1..N, 0 elsewhere).</summary>
    public static (int[] Labels, int Count) Regions(ScoredGrid grid, double threshold)
    {
        var on = grid.Probability.Select(p => !float.IsNaN(p) && p >= threshold).ToArray();
        return EvaluationMask.Label8(on, grid.GridWidth, grid.GridHeight);
    }
}
