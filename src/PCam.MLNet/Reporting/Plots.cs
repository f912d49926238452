using System.Globalization;
using ScottPlot;
using SkiaSharp;

namespace PCam.MLNet.Reporting;

/// <summary>The ScottPlot charts of a report, rendered to PNG bytes at a fixed size.</summary>
internal static class Plots
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    static readonly Color CurveColor = Colors.Category10[0];
    static readonly Color ChanceColor = Colors.Gray;

    public static byte[] Roc(RocCurve roc, string split, int rows) => CurvePlot(
        chance: (0, 0, 1, 1, "chance (AUC 0.5)"),
        roc.FalsePositiveRate, roc.TruePositiveRate, $"ROC (AUC {Fmt(roc.Auc, "0.0000")})", steps: false,
        $"ROC curve - {split} (n={rows}), AUC {Fmt(roc.Auc, "0.0000")}",
        "False positive rate (1 - specificity)", "True positive rate (recall)", Alignment.LowerRight);

    // Precision is constant between thresholds as recall grows: draw the steps that AP integrates.
    public static byte[] PrecisionRecall(PrCurve pr, string split, int rows) => CurvePlot(
        chance: (0, pr.Prevalence, 1, pr.Prevalence, $"chance (prevalence {Fmt(pr.Prevalence, "0.000")})"),
        pr.Recall, pr.Precision, $"PR (AUPRC/AP {Fmt(pr.AveragePrecision, "0.0000")})", steps: true,
        $"Precision-recall - {split} (n={rows}), AUPRC {Fmt(pr.AveragePrecision, "0.0000")}",
        "Recall (true positive rate)", "Precision (positive predictive value)", Alignment.LowerLeft);

    /// <summary>One curve over the unit square with a dashed chance line and a legend.</summary>
    static byte[] CurvePlot((double X1, double Y1, double X2, double Y2, string Legend) chance, double[] xs, double[] ys,
        string legend, bool steps, string title, string xLabel, string yLabel, Alignment legendAt)
    {
        var plt = NewPlot();
        var line = plt.Add.Line(chance.X1, chance.Y1, chance.X2, chance.Y2);
        line.LinePattern = LinePattern.Dashed;
        line.Color = ChanceColor;
        line.LegendText = chance.Legend;

        var curve = plt.Add.Scatter(xs, ys);
        curve.MarkerSize = 0;
        curve.LineWidth = 2;
        curve.Color = CurveColor;
        if (steps) curve.ConnectStyle = ConnectStyle.StepVertical;
        curve.LegendText = legend;

        plt.Title(title);
        plt.XLabel(xLabel);
        plt.YLabel(yLabel);
        UnitSquare(plt);
        plt.ShowLegend(legendAt);
        return Render(plt);
    }

    public static byte[] Reliability(Calibration cal, string split, int rows)
    {
        var plt = NewPlot();
        var bins = cal.Bins;
        var width = bins[0].Upper - bins[0].Lower;

        // Count histogram on the right axis, kept in the lower part of the plot so it doesn't hide the curve.
        var bars = plt.Add.Bars(bins.Select(b => (b.Lower + b.Upper) / 2).ToArray(), bins.Select(b => (double)b.Count).ToArray());
        foreach (var bar in bars.Bars)
        {
            bar.Size = width * 0.9;
            bar.FillColor = Colors.Gray.WithAlpha(0.35);
            bar.LineWidth = 0;
        }
        bars.Axes.YAxis = plt.Axes.Right;
        bars.LegendText = "patches per bin (right axis)";
        var maxCount = Math.Max(1, bins.Max(b => b.Count));
        plt.Axes.Right.Label.Text = "Patches per bin";

        var ideal = plt.Add.Line(0, 0, 1, 1);
        ideal.LinePattern = LinePattern.Dashed;
        ideal.Color = ChanceColor;
        ideal.LegendText = "perfectly calibrated";

        var filled = bins.Where(b => b.Count > 0).ToArray();
        var points = plt.Add.Scatter(filled.Select(b => b.MeanProbability).ToArray(), filled.Select(b => b.FractionPositive).ToArray());
        points.Color = CurveColor;
        points.LineWidth = 2;
        points.MarkerSize = 8;
        points.LegendText = "model (per bin)";

        plt.Title($"Reliability - {split} (n={rows}, {bins.Length} bins), ECE {Fmt(cal.Ece, "0.0000")}");
        plt.XLabel("Mean predicted probability of tumour");
        plt.YLabel("Fraction of tumour patches");
        UnitSquare(plt);
        plt.Axes.SetLimitsY(0, maxCount * 3.0, plt.Axes.Right);
        plt.ShowLegend(Alignment.UpperLeft);
        return Render(plt);
    }

    static Plot NewPlot()
    {
        var plt = new Plot();
        if (ReportFonts.Family is { } family) plt.Font.Set(family);
        return plt;
    }

    static void UnitSquare(Plot plt) => plt.Axes.SetLimits(-0.02, 1.02, -0.02, 1.02);

    static byte[] Render(Plot plt)
    {
        using var surface = SKSurface.Create(new SKImageInfo(ReportWriter.PlotWidth, ReportWriter.PlotHeight, SKColorType.Rgba8888, SKAlphaType.Premul))
            ?? throw new InvalidOperationException("Could not create a Skia surface.");
        plt.Render(surface.Canvas, ReportWriter.PlotWidth, ReportWriter.PlotHeight);
        return SkiaImages.EncodePng(surface);
    }

    internal static string Fmt(double v, string format) => double.IsNaN(v) ? "n/a" : v.ToString(format, Inv);
}
