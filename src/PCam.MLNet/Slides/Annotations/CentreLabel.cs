using PCam.MLNet.Slides.Heatmap;

namespace PCam.MLNet.Slides.Annotations;

/// <summary>The label of one 96x96 window by PCam's rule, from an annotation.</summary>
/// <param name="TumourPixels">Tumour pixels among the 32x32 = 1024 pixels of the centre region.</param>
/// <param name="Label">True = tumour, false = normal, null = ambiguous (tumour in the margin around a tumour-free centre).</param>
public readonly record struct CentreLabel(int TumourPixels, bool? Label)
{
    /// <summary>Side of PCam's label region (window pixels).</summary>
    public const int CentreSize = 32;
    public const int CentreOffset = (SlideHeatmap.Window - CentreSize) / 2;

    /// <summary>Tumour fraction of the centre region, in [0, 1] (multiples of 1/1024).</summary>
    public double Fraction => TumourPixels / (double)(CentreSize * CentreSize);

    /// <summary>
    /// PCam's rule, made exact: the window's pixels are squares of <paramref name="pixel"/> level-0 pixels starting at
    /// (<paramref name="minX"/>, <paramref name="minY"/>); a window pixel is tumour when its centre point lies in a tumour
    /// polygon (holes and exclusions removed); the window is positive when at least one of the 32x32 centre pixels is
    /// tumour. With <paramref name="marginPixels"/> &gt; 0 a window with a tumour-free centre is negative only when the
    /// centre grown by that many window pixels on each side (clamped to the window) is tumour-free too, else ambiguous.
    /// </summary>
    public static CentreLabel Of(SlideAnnotation annotation, double minX, double minY, double pixel, int marginPixels = 0)
    {
        int count = annotation.CountTumourPixels(minX + CentreOffset * pixel, minY + CentreOffset * pixel, CentreSize, pixel);
        if (count > 0) return new CentreLabel(count, true);
        if (marginPixels <= 0) return new CentreLabel(0, false);
        int m = Math.Min(marginPixels, CentreOffset);
        int side = CentreSize + 2 * m;
        int wide = annotation.CountTumourPixels(minX + (CentreOffset - m) * pixel, minY + (CentreOffset - m) * pixel, side, pixel);
        return new CentreLabel(0, wide > 0 ? null : false);
    }
}
