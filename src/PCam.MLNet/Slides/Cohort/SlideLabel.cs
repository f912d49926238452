namespace PCam.MLNet.Slides.Cohort;

/// <summary>A slide label as slides.csv, `--labels` and a cohort list give it.</summary>
public static class SlideLabel
{
    /// <summary>1/tumor/tumour/positive/true is tumour, 0/normal/negative/false is normal (any case, trimmed); null when absent or unknown.</summary>
    public static bool? Parse(string? label) => label?.Trim().ToLowerInvariant() switch
    {
        "1" or "tumor" or "tumour" or "positive" or "true" => true,
        "0" or "normal" or "negative" or "false" => false,
        _ => null,
    };
}
