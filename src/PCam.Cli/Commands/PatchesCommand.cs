using System.CommandLine;
using PCam.MLNet.Data;
using PCam.MLNet.Slides.Annotations;
using PCam.MLNet.Slides.Cohort;
using PCam.MLNet.Slides.Patches;
using PCam.MLNet.Training;
using PCam.MLNet.Featurization;

namespace PCam.Cli.Commands;

/// <summary>`pcam patches`: annotated slides to an official-layout PCam-style training set.</summary>
internal sealed class PatchesCommand : ICommandFactory
{
    public Command Create(CliContext cli)
    {
        var defaults = new PatchSetOptions();
        var slides = new Option<string?>("--slides") { Description = "Folder of slides (TIFF, SVS, or any format OpenSlide reads); the slide id is the file stem." };
        slides.MustBeFolder("slide folder");
        var list = new Option<string?>("--list") { Description = "CSV of slides: a 'path' column (relative to the CSV) and optional 'slide_id' and 'label' (0/1, normal/tumor) columns." };
        list.MustBeFile("slide list");
        var annotations = new Option<string?>("--annotations") { Description = "Folder of annotations named by slide id: ID.geojson / ID.json (QuPath) or ID.xml (ASAP, Camelyon16). A slide without one is normal." };
        annotations.MustBeFolder("annotation folder");
        var output = new Option<string>("--output") { Description = "Folder for camelyonpatch_level_2_split_{train,valid,test}_{x,y}.h5, patches.csv and dataset.json.", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of the slide split, the sampling and the row order.", DefaultValueFactory = _ => defaults.Seed };
        var positive = new Option<string>("--positive-class") { Description = "QuPath class (or ASAP group) of tumour regions; Camelyon16's _0/_1 and Camelyon17's metastases groups always count.", DefaultValueFactory = _ => defaults.Annotations.PositiveClass };
        var labels = new Option<string?>("--labels") { Description = "CSV slide_id,label (0/1, normal/tumor): slide labels for slides without annotation files." };
        labels.MustBeFile("label file");
        var max = new Option<int>("--max-per-slide") { Description = "Most patches from one slide (half tumour, half normal when it has both).", DefaultValueFactory = _ => defaults.MaxPerSlide };
        var split = new Option<string>("--split") { Description = "Fractions of the slides for train,valid,test (a slide goes whole to one split).", DefaultValueFactory = _ => "0.8,0.1,0.1" };
        var gzip = new Option<bool>("--gzip") { Description = "Write .h5.gz files (gzip, as PCam's downloads) instead of .h5." };
        var margin = new Option<int>("--negative-margin") { Description = "Window pixels around the centre 32x32 that must be tumour-free for a negative (ambiguous windows are skipped).", DefaultValueFactory = _ => defaults.NegativeMargin };
        var minTissue = new Option<double>("--min-tissue") { Description = "Fraction of a window that must be tissue (as in `pcam heatmap`).", DefaultValueFactory = _ => defaults.MinTissueFraction };
        var noBalance = new Option<bool>("--no-balance") { Description = "Keep every sampled patch instead of balancing the classes within each split." };
        var mpp = new Option<double?>("--mpp") { Description = "Level 0's um/px for slides whose files do not say." };
        var cmd = new Command("patches", "Cut a PCam-style training set (official HDF5 layout, 96x96 at 0.972 um/px, centre-32x32 labels) from annotated slides.")
        {
            slides, list, annotations, output, seed, positive, labels, max, split, gzip, margin, minTissue, noBalance, mpp,
        };
        cli.Bind(cmd, (parse, log, cancel) =>
        {
            var options = new PatchSetOptions
            {
                Seed = parse.GetValue(seed), MaxPerSlide = parse.GetValue(max), Split = PatchSetOptions.ParseSplit(parse.GetValue(split)!),
                Annotations = new AnnotationOptions { PositiveClass = parse.GetValue(positive)! },
                NegativeMargin = parse.GetValue(margin), MinTissueFraction = parse.GetValue(minTissue), Balance = !parse.GetValue(noBalance),
                Gzip = parse.GetValue(gzip), MicronsPerPixel = parse.GetValue(mpp),
            };
            options.Validate();
            var inputs = PatchSlides.Resolve(parse.GetValue(slides), parse.GetValue(list), parse.GetValue(annotations), parse.GetValue(labels));
            log.Info($"{inputs.Count} slide(s), {inputs.Count(s => s.AnnotationPath != null)} with annotations.");
            {
                PatchSetResult result;
                using (var progress = new StageProgress(log))
                    result = PatchSetBuilder.Build(inputs, parse.GetValue(output)!, options, progress, log.Warning, cancel);
                foreach (var s in result.Slides)
                    cli.Out.WriteLine($"{s.Slide.Id,-24} {s.Split.FileToken(),-5} {s.Tumour,6:N0} tumour {s.Normal,7:N0} normal   ({s.TumourCandidates:N0} tumour / {s.NormalCandidates:N0} normal windows on tissue)");
                foreach (var (sp, (t, n)) in result.Counts)
                    if (t + n > 0) cli.Out.WriteLine($"{sp.FileToken(),-5}  {t + n:N0} patches ({t:N0} tumour, {n:N0} normal)");
                foreach (var f in result.Files) cli.Out.WriteLine(f);
            }
            return 0;
        });
        return cmd;
    }
}

/// <summary>Slides (a folder or a --list CSV, gathered as `pcam heatmap` gathers them) matched with their annotation
/// files and --labels.</summary>
internal static class PatchSlides
{
    public static List<PatchSlide> Resolve(string? folder, string? list, string? annotations, string? labelsCsv)
    {
        if ((folder is null) == (list is null)) throw new ArgumentException("give the slides with exactly one of --slides DIR or --list FILE.csv.");
        if (folder is not null && !Directory.Exists(folder)) throw new PCamDataException($"{folder}: slide folder not found.");
        if (annotations is not null && !Directory.Exists(annotations)) throw new PCamDataException($"{annotations}: annotation folder not found.");
        var found = PCam.MLNet.Slides.Cohort.SlideInputs.Collect(folder is null ? [] : [folder], recursive: false, list);
        if (found.Count == 0) throw new PCamDataException($"{folder ?? list}: no slides found (extensions {string.Join(" ", PCam.MLNet.Slides.Cohort.SlideInputs.Extensions)}).");
        var labels = labelsCsv is null ? new Dictionary<string, bool>() : ReadLabels(labelsCsv);
        foreach (var id in labels.Keys)
            if (!found.Any(f => f.SlideId == id)) throw new PCamDataException($"{labelsCsv}: slide '{id}' is not among the slides given.");
        return found.Select(f => new PatchSlide(f.SlideId, f.Path,
            annotations is null ? null : AnnotationReader.Find(annotations, f.SlideId) ?? AnnotationReader.Find(annotations, Path.GetFileNameWithoutExtension(f.Path)),
            labels.TryGetValue(f.SlideId, out var l) ? l : f.Label is { } text ? ParseLabel(text, $"{list}: slide '{f.SlideId}'") : null)).ToList();
    }

    public static Dictionary<string, bool> ReadLabels(string path)
    {
        if (!File.Exists(path)) throw new PCamDataException($"{path}: labels file not found.");
        var result = new Dictionary<string, bool>(StringComparer.Ordinal);
        var lines = File.ReadAllLines(path);
        for (int n = 0; n < lines.Length; n++)
        {
            var cells = Csv.Split(lines[n]).Select(c => c.Trim()).ToArray();
            if (cells.Length == 0 || cells[0].Length == 0) continue;
            if (n == 0 && cells.Length >= 2 && cells[1].Equals("label", StringComparison.OrdinalIgnoreCase)) continue;
            if (cells.Length < 2) throw new PCamDataException($"{path}: line {n + 1}: expected slide_id,label.");
            result[cells[0]] = ParseLabel(cells[1], $"{path}: line {n + 1}");
        }
        return result;
    }

    static bool ParseLabel(string s, string where) =>
        SlideLabel.Parse(s) ?? throw new PCamDataException($"{where}: label '{s}' is not 0/1, normal/tumor.");
}
