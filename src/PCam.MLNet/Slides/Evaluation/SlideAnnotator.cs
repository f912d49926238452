using System.Globalization;
using System.Text.Json.Nodes;
using PCam.MLNet.Slides.Annotations;
using PCam.MLNet.Slides.Heatmap;

namespace PCam.MLNet.Slides.Evaluation;

/// <summary>
/// `pcam heatmap --annotations DIR` for a cohort run: finds each slide's annotation (SLIDE_ID or file stem, .geojson,
/// .json or .xml; none = a normal slide), checks them all before scoring starts, and gives the "annotations" block of a
/// slide's summary. <see cref="Key"/> identifies the annotation file and class, so a resumed slide whose annotation
/// changed (or that was run without annotations) is redone.
/// </summary>
public sealed class SlideAnnotator(string directory, AnnotationOptions options)
{
    public string Directory { get; } = directory;
    public AnnotationOptions Options { get; } = options;

    public string? Find(string slideId, string slidePath) =>
        AnnotationReader.Find(Directory, slideId) ?? AnnotationReader.Find(Directory, Path.GetFileNameWithoutExtension(slidePath));

    /// <summary>Reads every slide's annotation (without the bounds check, which needs the slide): a malformed file fails the run up front.</summary>
    public void CheckAll(IEnumerable<(string SlideId, string Path)> slides)
    {
        foreach (var (id, path) in slides)
            if (Find(id, path) is { } a) AnnotationReader.Read(a, Options);
    }

    public string Key(string slideId, string slidePath)
    {
        var a = Find(slideId, slidePath);
        if (a is null) return $"none|{Options.PositiveClass}";
        var f = new FileInfo(a);
        return string.Create(CultureInfo.InvariantCulture, $"{f.FullName}|{f.Length}|{f.LastWriteTimeUtc.Ticks}|{Options.PositiveClass}");
    }

    public SummaryAnnotations Score(string slideId, string slidePath, HeatmapResult result)
    {
        var a = Find(slideId, slidePath);
        var e = HeatmapEvaluation.Score(slideId, result, a, Options);
        return HeatmapEvaluation.ToSummary(e, a, Key(slideId, slidePath));
    }
}
