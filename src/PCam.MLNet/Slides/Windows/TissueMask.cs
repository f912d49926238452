using PCam.MLNet.Slides.Reading;

namespace PCam.MLNet.Slides.Windows;

/// <summary>
/// A thumbnail of the selected level (mean colour of each <see cref="Factor"/> x <see cref="Factor"/> block, read band by
/// band) and the tissue mask on it. The rule: a thumbnail pixel is tissue when its HSV saturation (max-min)/max is at
/// least Otsu's threshold over the thumbnail's saturations, clamped to [<see cref="MinSaturationThreshold"/>,
/// <see cref="MaxSaturationThreshold"/>] (so an all-white image has no tissue and an all-tissue image keeps its paler
/// half); a window is tissue when at least MinTissueFraction of the thumbnail pixels it covers are tissue. Glass is
/// white or grey and black scanner borders have saturation 0, so both are skipped.
/// </summary>
public sealed class TissueMask
{
    public const double MinSaturationThreshold = 0.04;
    public const double MaxSaturationThreshold = 0.10;
    /// <summary>Longest thumbnail side the factor aims for.</summary>
    public const int TargetSide = 4096;

    private readonly int[] _integral; // (TW+1) x (TH+1) counts of tissue pixels

    private TissueMask(int factor, int width, int height, byte[] rgb, byte[] tissue, double threshold)
    {
        Factor = factor;
        Width = width;
        Height = height;
        Rgb = rgb;
        Tissue = tissue;
        SaturationThreshold = threshold;
        _integral = new int[(width + 1) * (height + 1)];
        for (int y = 0; y < height; y++)
        {
            int rowSum = 0;
            for (int x = 0; x < width; x++)
            {
                rowSum += tissue[y * width + x];
                _integral[(y + 1) * (width + 1) + x + 1] = _integral[y * (width + 1) + x + 1] + rowSum;
            }
        }
    }

    /// <summary>Level pixels per thumbnail pixel (a power of two).</summary>
    public int Factor { get; }
    public int Width { get; }
    public int Height { get; }
    /// <summary>Thumbnail pixels, HWC RGB.</summary>
    public byte[] Rgb { get; }
    /// <summary>1 = tissue, per thumbnail pixel.</summary>
    public byte[] Tissue { get; }
    public double SaturationThreshold { get; }
    public double TissueFraction => Tissue.Length == 0 ? 0 : Tissue.Sum(t => (double)t) / Tissue.Length;

    /// <summary>Fraction of the thumbnail pixels inside the level region [x, x+w) x [y, y+h) that are tissue.</summary>
    public double Fraction(int x, int y, int w, int h)
    {
        int x0 = Math.Min(x / Factor, Width - 1), y0 = Math.Min(y / Factor, Height - 1);
        int x1 = Math.Min(Width, Math.Max(x0 + 1, (x + w) / Factor)), y1 = Math.Min(Height, Math.Max(y0 + 1, (y + h) / Factor));
        int W = Width + 1;
        int count = _integral[y1 * W + x1] - _integral[y0 * W + x1] - _integral[y1 * W + x0] + _integral[y0 * W + x0];
        return (double)count / ((x1 - x0) * (y1 - y0));
    }

    /// <summary>Reads <paramref name="levelIndex"/> of <paramref name="slide"/> once, band by band, into the thumbnail and mask.</summary>
    public static TissueMask Compute(ISlideReader slide, int levelIndex, CancellationToken cancel = default)
    {
        var level = slide.Levels[levelIndex];
        int factor = 1;
        while (Math.Max(level.Width, level.Height) / factor > TargetSide) factor *= 2;
        int tw = level.Width / factor, th = level.Height / factor;
        var rgb = new byte[tw * th * 3];
        var saturation = new byte[tw * th]; // (max-min)/max in 1/255 steps
        var band = new byte[tw * factor * factor * 3];
        var sums = new long[tw * 3];
        for (int ty = 0; ty < th; ty++)
        {
            cancel.ThrowIfCancellationRequested();
            int y = ty * factor;
            slide.ReadRegion(levelIndex, 0, y, tw * factor, factor, band);
            slide.Evict(levelIndex, y + factor);
            Array.Clear(sums);
            int stride = tw * factor * 3;
            for (int r = 0; r < factor; r++)
            {
                var line = band.AsSpan(r * stride, stride);
                for (int x = 0, i = 0; x < tw * factor; x++, i += 3)
                {
                    int t = x / factor * 3;
                    sums[t] += line[i];
                    sums[t + 1] += line[i + 1];
                    sums[t + 2] += line[i + 2];
                }
            }
            long n = (long)factor * factor;
            for (int tx = 0; tx < tw; tx++)
            {
                int o = (ty * tw + tx) * 3;
                byte r = (byte)((sums[tx * 3] + n / 2) / n), g = (byte)((sums[tx * 3 + 1] + n / 2) / n), b = (byte)((sums[tx * 3 + 2] + n / 2) / n);
                rgb[o] = r; rgb[o + 1] = g; rgb[o + 2] = b;
                int max = Math.Max(r, Math.Max(g, b)), min = Math.Min(r, Math.Min(g, b));
                saturation[ty * tw + tx] = max == 0 ? (byte)0 : (byte)((255 * (max - min) + max / 2) / max);
            }
        }
        slide.Evict(levelIndex, int.MaxValue);
        double threshold = Math.Clamp(Otsu(saturation), MinSaturationThreshold, MaxSaturationThreshold);
        int cut = (int)Math.Ceiling(threshold * 255 - 1e-9);
        var tissue = new byte[tw * th];
        for (int i = 0; i < tissue.Length; i++) tissue[i] = saturation[i] >= cut ? (byte)1 : (byte)0;
        return new TissueMask(factor, tw, th, rgb, tissue, threshold);
    }

    /// <summary>A mask that calls everything tissue (--no-tissue-mask), still with the thumbnail for the heatmap.</summary>
    public TissueMask AllTissue() => new(Factor, Width, Height, Rgb, Enumerable.Repeat((byte)1, Tissue.Length).ToArray(), 0);

    /// <summary>Otsu's threshold of values in [0, 1] (256 bins): the cut that maximises the between-class variance.</summary>
    public static double Otsu(IReadOnlyList<double> values)
    {
        var hist = new long[256];
        foreach (var v in values) hist[Math.Clamp((int)(v * 255 + 0.5), 0, 255)]++;
        return Otsu(hist);
    }

    /// <summary>Otsu's threshold of bytes (value/255), returned in [0, 1].</summary>
    public static double Otsu(byte[] values)
    {
        var hist = new long[256];
        foreach (var v in values) hist[v]++;
        return Otsu(hist);
    }

    private static double Otsu(long[] hist)
    {
        long total = hist.Sum();
        if (total == 0) return 0;
        double sumAll = 0;
        for (int i = 0; i < 256; i++) sumAll += i * (double)hist[i];
        double sumB = 0, best = -1;
        long wB = 0;
        int cut = 0;
        for (int i = 0; i < 256; i++)
        {
            wB += hist[i];
            if (wB == 0) continue;
            long wF = total - wB;
            if (wF == 0) break;
            sumB += i * (double)hist[i];
            double mB = sumB / wB, mF = (sumAll - sumB) / wF;
            double between = (double)wB * wF * (mB - mF) * (mB - mF);
            if (between > best) { best = between; cut = i; }
        }
        return (cut + 0.5) / 255;
    }
}
