using PCam.MLNet.Slides.Annotations;
using PCam.MLNet.Slides.Reading;

namespace PCam.MLNet.Slides.Patches;

/// <summary>Settings of `pcam patches` (defaults documented here and in docs/own-slides.md).</summary>
public sealed class PatchSetOptions
{
    /// <summary>Seeds the slide split, the sampling and the row order of each split file.</summary>
    public int Seed { get; init; }
    /// <summary>Most patches taken from one slide (half tumour, half normal when it has both; the rest of the cap goes to
    /// the other class when one runs short).</summary>
    public int MaxPerSlide { get; init; } = 1000;
    /// <summary>Fractions of the slides for train, valid and test (normalised to sum 1; 0 leaves a split out).</summary>
    public double[] Split { get; init; } = [0.8, 0.1, 0.1];
    public AnnotationOptions Annotations { get; init; } = new();
    /// <summary>Window pixels around the centre 32x32 that must be tumour-free too for a negative; windows with tumour
    /// only there are skipped (0 = PCam's rule alone).</summary>
    public int NegativeMargin { get; init; }
    /// <summary>A window is a candidate when at least this fraction of it is tissue (the heatmap's --min-tissue).</summary>
    public double MinTissueFraction { get; init; } = 0.25;
    /// <summary>Balance classes within each split by dropping random patches of the larger class (PCam is 50/50).</summary>
    public bool Balance { get; init; } = true;
    /// <summary>Also write STEM.h5.gz (gzip of the .h5, as PCam's Zenodo files) instead of STEM.h5.</summary>
    public bool Gzip { get; init; }
    /// <summary>Level 0's um/px for slides that do not give it (--mpp).</summary>
    public double? MicronsPerPixel { get; init; }
    /// <summary>Window pixel size in um (PCam's 0.972).</summary>
    public double TargetMicronsPerPixel { get; init; } = SlideImage.PCamMicronsPerPixel;

    public void Validate()
    {
        if (MaxPerSlide < 1) throw new ArgumentException($"PatchSetOptions.MaxPerSlide must be at least 1 (got {MaxPerSlide}).");
        if (Split.Length != 3 || Split.Any(p => p < 0 || !double.IsFinite(p)) || Split.Sum() <= 0 || Split[0] <= 0)
            throw new ArgumentException($"PatchSetOptions.Split must be three non-negative fractions for train,valid,test with train above 0 (got {string.Join(",", Split)}).");
        if (NegativeMargin is < 0 or > CentreLabel.CentreOffset) throw new ArgumentException($"PatchSetOptions.NegativeMargin must be 0..{CentreLabel.CentreOffset} window pixels (got {NegativeMargin}).");
        if (MinTissueFraction is < 0 or > 1 || double.IsNaN(MinTissueFraction)) throw new ArgumentException($"PatchSetOptions.MinTissueFraction must be in [0, 1] (got {MinTissueFraction}).");
        if (string.IsNullOrWhiteSpace(Annotations.PositiveClass)) throw new ArgumentException("AnnotationOptions.PositiveClass must not be empty.");
    }

    /// <summary>Parses "0.8,0.1,0.1".</summary>
    public static double[] ParseSplit(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new double[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!double.TryParse(parts[i], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out values[i]))
                throw new ArgumentException($"PatchSetOptions.Split: '{parts[i]}' is not a number (expected train,valid,test fractions such as 0.8,0.1,0.1).");
        if (values.Length != 3) throw new ArgumentException($"PatchSetOptions.Split needs three fractions train,valid,test (got '{text}').");
        return values;
    }
}

/// <summary>One slide of the input: an id (file stem), its file, and its annotation file or --labels label.</summary>
public sealed record PatchSlide(string Id, string Path, string? AnnotationPath, bool? Label);
