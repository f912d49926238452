using System.Globalization;
using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;
using PCam.MLNet.Training;

namespace PCam.MLNet.Reporting;

/// <summary>
/// The OxyPlot charts of a report, rendered to PNG bytes at a fixed size by OxyPlot.SkiaSharp. OxyPlot runs on the
/// SkiaSharp 2.88 that ML.NET's ImageAnalytics needs, so reports and the Model Builder export share one process.
/// </summary>
internal static class Plots
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    static readonly OxyColor CurveColor = OxyColor.FromRgb(0x1f, 0x77, 0xb4); // Category10 blue
    static readonly OxyColor ChanceColor = OxyColors.Gray;
    static readonly OxyColor GridColor = OxyColor.FromAColor(40, OxyColors.Black);

    public static byte[] Roc(RocCurve roc, string split, int rows) => CurvePlot(
        chance: (0, 0, 1, 1, "chance (AUC 0.5)"),
        roc.FalsePositiveRate, roc.TruePositiveRate, $"ROC (AUC {Fmt(roc.Auc, "0.0000")})", steps: false,
        $"ROC curve - {split} (n={rows}), AUC {Fmt(roc.Auc, "0.0000")}",
        "False positive rate (1 - specificity)", "True positive rate (recall)", LegendPosition.BottomRight);

    // Precision is constant between thresholds as recall grows: draw the steps that AP integrates.
    public static byte[] PrecisionRecall(PrCurve pr, string split, int rows) => CurvePlot(
        chance: (0, pr.Prevalence, 1, pr.Prevalence, $"chance (prevalence {Fmt(pr.Prevalence, "0.000")})"),
        pr.Recall, pr.Precision, $"PR (AUPRC/AP {Fmt(pr.AveragePrecision, "0.0000")})", steps: true,
        $"Precision-recall - {split} (n={rows}), AUPRC {Fmt(pr.AveragePrecision, "0.0000")}",
        "Recall (true positive rate)", "Precision (positive predictive value)", LegendPosition.BottomLeft);

    /// <summary>One curve over the unit square with a dashed chance line and a legend.</summary>
    static byte[] CurvePlot((double X1, double Y1, double X2, double Y2, string Legend) chance, double[] xs, double[] ys,
        string legend, bool steps, string title, string xLabel, string yLabel, LegendPosition legendAt)
    {
        var model = NewModel(title, legendAt);
        UnitSquare(model, xLabel, yLabel);
        var line = new LineSeries { Color = ChanceColor, LineStyle = LineStyle.Dash, StrokeThickness = 1.5, Title = chance.Legend };
        line.Points.Add(new DataPoint(chance.X1, chance.Y1));
        line.Points.Add(new DataPoint(chance.X2, chance.Y2));
        model.Series.Add(line);

        var curve = new LineSeries { Color = CurveColor, StrokeThickness = 2, Title = legend, MarkerType = MarkerType.None };
        for (var i = 0; i < xs.Length; i++)
        {
            // Vertical first, then horizontal: the value at x[i] holds back to x[i-1] (as average precision counts it).
            if (steps && i > 0) curve.Points.Add(new DataPoint(xs[i - 1], ys[i]));
            curve.Points.Add(new DataPoint(xs[i], ys[i]));
        }
        model.Series.Add(curve);
        return Render(model);
    }

    public static byte[] Reliability(Calibration cal, string split, int rows)
    {
        var bins = cal.Bins;
        var model = NewModel($"Reliability - {split} (n={rows}, {bins.Length} bins), ECE {Fmt(cal.Ece, "0.0000")}", LegendPosition.TopLeft);
        UnitSquare(model, "Mean predicted probability of tumour", "Fraction of tumour patches");

        // Count histogram on the right axis, kept in the lower third of the plot so it doesn't hide the curve.
        var maxCount = Math.Max(1, bins.Max(b => b.Count));
        model.Axes.Add(new LinearAxis
        {
            Position = AxisPosition.Right, Key = "count", Title = "Patches per bin", Minimum = 0, Maximum = maxCount * 3.0,
            MinimumPadding = 0, MaximumPadding = 0,
        });
        var bars = new RectangleBarSeries
        {
            YAxisKey = "count", FillColor = OxyColor.FromAColor(90, OxyColors.Gray), StrokeThickness = 0,
            Title = "patches per bin (right axis)",
        };
        foreach (var b in bins)
        {
            var pad = (b.Upper - b.Lower) * 0.05;
            bars.Items.Add(new RectangleBarItem(b.Lower + pad, 0, b.Upper - pad, b.Count));
        }
        model.Series.Add(bars);

        var ideal = new LineSeries { Color = ChanceColor, LineStyle = LineStyle.Dash, StrokeThickness = 1.5, Title = "perfectly calibrated", YAxisKey = "p" };
        ideal.Points.Add(new DataPoint(0, 0));
        ideal.Points.Add(new DataPoint(1, 1));
        model.Series.Add(ideal);

        var points = new LineSeries
        {
            Color = CurveColor, StrokeThickness = 2, MarkerType = MarkerType.Circle, MarkerSize = 4, MarkerFill = CurveColor,
            Title = "model (per bin)", YAxisKey = "p",
        };
        foreach (var b in bins.Where(b => b.Count > 0)) points.Points.Add(new DataPoint(b.MeanProbability, b.FractionPositive));
        model.Series.Add(points);
        return Render(model);
    }

    static PlotModel NewModel(string title, LegendPosition legendAt)
    {
        var model = new PlotModel
        {
            Title = title, TitleFontSize = 15, TitleFontWeight = FontWeights.Normal, DefaultFontSize = 12,
            Background = OxyColors.White, PlotAreaBorderColor = OxyColors.Black, PlotAreaBorderThickness = new OxyThickness(1),
        };
        if (ReportFonts.Family is { } family) model.DefaultFont = family;
        model.Legends.Add(new Legend
        {
            LegendPosition = legendAt, LegendPlacement = LegendPlacement.Inside, LegendBackground = OxyColor.FromAColor(220, OxyColors.White),
            LegendBorder = OxyColors.LightGray, LegendFontSize = 12,
        });
        return model;
    }

    static void UnitSquare(PlotModel model, string xLabel, string yLabel)
    {
        model.Axes.Add(new LinearAxis
        {
            Position = AxisPosition.Bottom, Key = "x", Title = xLabel, Minimum = -0.02, Maximum = 1.02, MajorStep = 0.2, StringFormat = "0.0",
            MajorGridlineStyle = LineStyle.Solid, MajorGridlineColor = GridColor, TitleFontSize = 13,
        });
        model.Axes.Add(new LinearAxis
        {
            Position = AxisPosition.Left, Key = "p", Title = yLabel, Minimum = -0.02, Maximum = 1.02, MajorStep = 0.2, StringFormat = "0.0",
            MajorGridlineStyle = LineStyle.Solid, MajorGridlineColor = GridColor, TitleFontSize = 13,
        });
    }

    static byte[] Render(PlotModel model)
    {
        using var stream = new MemoryStream();
        // Text shaping would need HarfBuzz's native library; plain Skia text draws these Latin labels identically.
        new OxyPlot.SkiaSharp.PngExporter { Width = ReportWriter.PlotWidth, Height = ReportWriter.PlotHeight, UseTextShaping = false }
            .Export(model, stream);
        return stream.ToArray();
    }

    internal static string Fmt(double v, string format) => double.IsNaN(v) ? "n/a" : v.ToString(format, Inv);
}
