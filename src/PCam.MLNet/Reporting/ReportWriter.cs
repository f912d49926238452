using System.Globalization;
using System.Text;
using PCam.MLNet.Training;
using SkiaSharp;

namespace PCam.MLNet.Reporting;

public static class ReportWriter
{
    /// <summary>Pixel size of the ROC, precision-recall, reliability and confusion-matrix PNGs.</summary>
    public const int PlotWidth = 600, PlotHeight = 450;
    /// <summary>Gallery geometry: a 96x96 patch drawn 2x, tiles per row, spacing and the caption strip under each tile.</summary>
    public const int GalleryTileSize = 192, GalleryColumns = 8, GalleryPadding = 8, GalleryCaptionHeight = 36;
    /// <summary>At most this many tiles per gallery (the most confident errors of that kind).</summary>
    public const int MaxGalleryTiles = 16;
    /// <summary>Equal-width probability bins of the reliability diagram and of the ECE shown on it.</summary>
    public const int CalibrationBins = PCamMetrics.EceBins;

    public const string RocFile = "roc.png", PrFile = "precision-recall.png", ReliabilityFile = "reliability.png",
        ConfusionFile = "confusion-matrix.png", FalsePositivesFile = "false-positives.png", FalseNegativesFile = "false-negatives.png";

    static readonly string[] AllFiles = [RocFile, PrFile, ReliabilityFile, ConfusionFile, FalsePositivesFile, FalseNegativesFile];
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Pixel size of a gallery PNG holding <paramref name="tiles"/> tiles.</summary>
    public static (int Width, int Height) GallerySize(int tiles) => SkiaImages.GallerySize(tiles);

    /// <summary>Writes NAME.report.md and NAME.report/*.png beside the model; returns the Markdown path.</summary>
    public static string Write(ReportInput input, string directory)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        var name = input.ModelName;
        if (string.IsNullOrWhiteSpace(name) || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || name is "." or "..")
            throw new ArgumentException($"ModelName must be a plain file name: '{name}'.", nameof(input));

        Directory.CreateDirectory(directory);
        var imageDir = Path.Combine(directory, name + ".report");
        Directory.CreateDirectory(imageDir);
        // Markdown links are URL paths: escape the folder name (spaces etc.), the file names are fixed ASCII.
        var linkDir = Uri.EscapeDataString(name + ".report");

        var rows = input.Rows;
        var m = input.Metrics;
        var written = new HashSet<string>(StringComparer.Ordinal);
        void Save(string file, byte[] png) { AtomicFile.WriteAllBytes(Path.Combine(imageDir, file), png); written.Add(file); }
        string Img(string alt, string file) => $"![{alt}]({linkDir}/{file})";

        var md = new StringBuilder();
        md.Append("# ").Append(Escape(name)).AppendLine(" - evaluation report").AppendLine();

        // PCam benchmark table (same columns as the PCam README leaderboard).
        md.AppendLine("| Name | Acc | AUC | NLL |").AppendLine("|---|---|---|---|");
        foreach (var s in Splits(input))
            md.AppendLine($"| {Escape(name)} ({Escape(s.Split)}) | {F(s.Accuracy, "0.0000")} | {F(s.Auc, "0.0000")} | {F(s.Nll, "0.000")} |");
        md.AppendLine().AppendLine("Acc at the model's decision threshold; AUC of the ROC curve; NLL is the mean negative log-likelihood in nats.").AppendLine();

        md.AppendLine("## Metrics").AppendLine();
        md.AppendLine("| Split | Rows | Acc | AUC | NLL | F1 | Precision | Recall | AUPRC | ECE | TP | FP | TN | FN |");
        md.AppendLine("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        foreach (var s in Splits(input))
            md.AppendLine($"| {Escape(s.Split)} | {s.Rows.ToString(Inv)} | {F(s.Accuracy, "0.0000")} | {F(s.Auc, "0.0000")} | {F(s.Nll, "0.000")} | " +
                          $"{F(s.F1, "0.0000")} | {F(s.Precision, "0.0000")} | {F(s.Recall, "0.0000")} | {F(s.Auprc, "0.0000")} | {F(s.Ece, "0.0000")} | " +
                          $"{s.TruePositives.ToString(Inv)} | {s.FalsePositives.ToString(Inv)} | {s.TrueNegatives.ToString(Inv)} | {s.FalseNegatives.ToString(Inv)} |");
        md.AppendLine().AppendLine("Positive class: tumour (1). Precision, recall and F1 are for the tumour class.").AppendLine();

        md.AppendLine("## Run").AppendLine();
        if (input.RunDetails.Count == 0) md.AppendLine("_No run details recorded._");
        foreach (var line in input.RunDetails) md.Append("- ").AppendLine(line);
        md.AppendLine();

        ReportFonts.Ensure();
        if (!ReportFonts.Available)
            md.AppendLine("> Note: no font was found on the machine that wrote this report, so the images have no text. " +
                          "Install one (e.g. `apt-get install fonts-dejavu-core`) or set " + ReportFonts.FontEnvironmentVariable + " to a .ttf file.").AppendLine();

        var positives = rows.Count(r => r.Label);
        var negatives = rows.Count - positives;
        md.AppendLine($"## Curves ({Escape(m.Split)})").AppendLine();
        if (positives > 0 && negatives > 0)
        {
            var roc = Curves.Roc(rows);
            var pr = Curves.PrecisionRecall(rows);
            Save(RocFile, Plots.Roc(roc, m.Split, rows.Count));
            Save(PrFile, Plots.PrecisionRecall(pr, m.Split, rows.Count));
            md.AppendLine($"Computed from the {rows.Count.ToString(Inv)} scored rows ({positives.ToString(Inv)} tumour, {negatives.ToString(Inv)} normal): " +
                          $"ROC AUC {F(roc.Auc, "0.0000")}, AUPRC (average precision) {F(pr.AveragePrecision, "0.0000")}.").AppendLine();
            md.AppendLine(Img("ROC curve", RocFile)).AppendLine();
            md.AppendLine(Img("Precision-recall curve", PrFile)).AppendLine();
        }
        else
        {
            md.AppendLine($"_No ROC or precision-recall curve: the {rows.Count.ToString(Inv)} scored rows do not contain both classes._").AppendLine();
        }

        md.AppendLine("## Calibration").AppendLine();
        var cal = Curves.Reliability(rows, CalibrationBins);
        if (cal.Bins.Any(b => b.Count > 0))
        {
            Save(ReliabilityFile, Plots.Reliability(cal, m.Split, rows.Count));
            md.AppendLine($"{CalibrationBins} equal-width probability bins; ECE {F(cal.Ece, "0.0000")} (bin-weighted mean |fraction of tumour - mean probability|). " +
                          "Points below the diagonal are over-confident for tumour.").AppendLine();
            md.AppendLine(Img("Reliability diagram", ReliabilityFile)).AppendLine();
        }
        else
        {
            md.AppendLine("_No reliability diagram: no scored rows._").AppendLine();
        }

        md.AppendLine("## Confusion matrix").AppendLine();
        Save(ConfusionFile, SkiaImages.ConfusionMatrix(m));
        md.AppendLine("Rows are the true class, columns the prediction; percentages are of the true class (row).").AppendLine();
        md.AppendLine(Img("Confusion matrix", ConfusionFile)).AppendLine();

        md.AppendLine("## Most confident errors").AppendLine();
        md.AppendLine($"Up to {MaxGalleryTiles} per kind, most confident first; each 96x96 patch is shown 2x with its Index and p(tumour). " +
                      "The green square is the centre 32x32 region that decides the label.").AppendLine();
        var fps = rows.Where(r => !r.Label && r.PredictedLabel).OrderByDescending(r => r.Probability).ThenBy(r => r.Index).Take(MaxGalleryTiles).ToArray();
        var fns = rows.Where(r => r.Label && !r.PredictedLabel).OrderBy(r => r.Probability).ThenBy(r => r.Index).Take(MaxGalleryTiles).ToArray();
        Gallery("False positives (normal predicted as tumour)", "false positives", fps, FalsePositivesFile, new SKColor(214, 39, 40));
        Gallery("False negatives (tumour predicted as normal)", "false negatives", fns, FalseNegativesFile, new SKColor(31, 119, 180));

        // A previous report in the same place may have had images this one doesn't (e.g. no false negatives now).
        foreach (var stale in AllFiles.Where(f => !written.Contains(f)))
            File.Delete(Path.Combine(imageDir, stale));

        // Markdown last, so it never links to an image that isn't there yet.
        var mdPath = Path.Combine(directory, name + ".report.md");
        AtomicFile.WriteAllText(mdPath, md.ToString());
        return mdPath;

        void Gallery(string heading, string kind, ScoredPatch[] tiles, string file, SKColor accent)
        {
            md.Append("### ").AppendLine(heading).AppendLine();
            if (tiles.Length == 0)
            {
                md.AppendLine($"_No {kind} in this split._").AppendLine();
                return;
            }
            Save(file, SkiaImages.Gallery(tiles, input.ReadPatch, accent));
            md.AppendLine(Img(heading, file)).AppendLine();
        }
    }

    static IEnumerable<SplitMetrics> Splits(ReportInput input) => input.OtherSplits.Prepend(input.Metrics);

    static string F(double v, string format) => Plots.Fmt(v, format);

    /// <summary>Keeps a name from breaking a Markdown table row.</summary>
    static string Escape(string s) => s.Replace("|", "\\|", StringComparison.Ordinal).ReplaceLineEndings(" ");
}
