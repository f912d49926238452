using PCam.MLNet.Slides.Annotations;

namespace PCam.MLNet.Slides.Evaluation;

/// <summary>
/// Camelyon16's evaluation mask of one slide, built from its annotation the way computeEvaluationMask and
/// computeITCList build it from the ground-truth mask: the tumour mask rasterised on a grid of
/// <see cref="PixelMicrons"/> (pixel-centre rule; the script reads its mask at level 5, 0.243 x 32 = 7.776 um/px),
/// grown by 75/2 um (Euclidean distance to tumour below 75 um / (2 x pixel size) grid pixels, "the size of 5 tumour
/// cells"), holes filled, labelled 8-connected into lesions 1..N; a lesion whose major axis (skimage's
/// 4 sqrt(largest eigenvalue of the pixel covariance)) is below 275 um is an isolated-tumour-cell (ITC) lesion.
/// </summary>
public sealed class EvaluationMask
{
    public const double DefaultPixelMicrons = 0.243 * 32;
    public const double GrowMicrons = 75;
    public const double ItcMicrons = 275;

    private EvaluationMask(int width, int height, double pixelLevel0, double pixelMicrons, int[] labels, int count, bool[] itc)
    {
        Width = width; Height = height; PixelLevel0 = pixelLevel0; PixelMicrons = pixelMicrons;
        Labels = labels; LesionCount = count; _itc = itc;
    }

    private readonly bool[] _itc; // index = label

    public int Width { get; }
    public int Height { get; }
    /// <summary>Level-0 pixels per mask pixel.</summary>
    public double PixelLevel0 { get; }
    public double PixelMicrons { get; }
    /// <summary>0 = no lesion, else the lesion label; row-major Width x Height.</summary>
    public int[] Labels { get; }
    public int LesionCount { get; }
    public bool IsItc(int label) => label > 0 && _itc[label];
    /// <summary>Lesions to detect (not ITC).</summary>
    public int DetectableLesions => Enumerable.Range(1, LesionCount).Count(l => !_itc[l]);

    /// <summary>The lesion label at a level-0 point (0 outside every lesion), as the script's evaluation_mask[y/2^level, x/2^level].</summary>
    public int LabelAt(double x, double y)
    {
        int i = (int)(x / PixelLevel0), j = (int)(y / PixelLevel0);
        return i < 0 || j < 0 || i >= Width || j >= Height ? 0 : Labels[j * Width + i];
    }

    /// <param name="micronsPerPixel">Level 0's um/px.</param>
    public static EvaluationMask Build(SlideAnnotation annotation, int level0Width, int level0Height, double micronsPerPixel,
        double pixelMicrons = DefaultPixelMicrons)
    {
        double p = pixelMicrons / micronsPerPixel;
        int w = Math.Max(1, (int)Math.Ceiling(level0Width / p)), h = Math.Max(1, (int)Math.Ceiling(level0Height / p));
        var tumour = Rasterise(annotation, w, h, p);
        // distance_transform_edt(255 - mask) < 75 / (resolution * 2^level * 2): distance in mask pixels to the nearest tumour pixel.
        double threshold = GrowMicrons / (pixelMicrons * 2);
        var d2 = SquaredDistanceToTrue(tumour, w, h);
        var grown = new bool[w * h];
        for (int i = 0; i < grown.Length; i++) grown[i] = Math.Sqrt(d2[i]) < threshold;
        FillHoles(grown, w, h);
        var (labels, count) = Label8(grown, w, h);
        var itc = new bool[count + 1];
        double itcPixels = ItcMicrons / pixelMicrons;
        var sx = new double[count + 1]; var sy = new double[count + 1]; var sxx = new double[count + 1]; var syy = new double[count + 1]; var sxy = new double[count + 1]; var n = new long[count + 1];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int l = labels[y * w + x];
                if (l == 0) continue;
                n[l]++; sx[l] += x; sy[l] += y; sxx[l] += (double)x * x; syy[l] += (double)y * y; sxy[l] += (double)x * y;
            }
        for (int l = 1; l <= count; l++)
        {
            double mx = sx[l] / n[l], my = sy[l] / n[l];
            double cxx = sxx[l] / n[l] - mx * mx, cyy = syy[l] / n[l] - my * my, cxy = sxy[l] / n[l] - mx * my;
            double l1 = (cxx + cyy) / 2 + Math.Sqrt((cxx - cyy) * (cxx - cyy) / 4 + cxy * cxy);
            itc[l] = 4 * Math.Sqrt(Math.Max(0, l1)) < itcPixels;
        }
        return new EvaluationMask(w, h, p, pixelMicrons, labels, count, itc);
    }

    /// <summary>Scanline fill, even-odd per polygon (so holes are holes), at pixel centres; exclusions cleared after.</summary>
    public static bool[] Rasterise(SlideAnnotation annotation, int w, int h, double pixel)
    {
        var mask = new bool[w * h];
        foreach (var poly in annotation.Tumour) Fill(mask, w, h, pixel, poly, true);
        foreach (var poly in annotation.Exclusion) Fill(mask, w, h, pixel, poly, false);
        return mask;
    }

    private static void Fill(bool[] mask, int w, int h, double pixel, AnnotationPolygon poly, bool value)
    {
        int j0 = Math.Max(0, (int)Math.Floor(poly.MinY / pixel - 0.5)), j1 = Math.Min(h - 1, (int)Math.Ceiling(poly.MaxY / pixel));
        var xs = new List<double>();
        var inside = new int[w];
        for (int j = j0; j <= j1; j++)
        {
            double y = (j + 0.5) * pixel;
            Array.Clear(inside);
            foreach (var ring in poly.Rings)
            {
                xs.Clear();
                for (int a = 0, b = ring.Length - 1; a < ring.Length; b = a++)
                {
                    var (xa, ya) = ring[a];
                    var (xb, yb) = ring[b];
                    if ((ya > y) != (yb > y)) xs.Add((xb - xa) * (y - ya) / (yb - ya) + xa);
                }
                xs.Sort();
                for (int k = 0; k + 1 < xs.Count; k += 2)
                {
                    // pixel i is covered when xs[k] <= (i + 0.5) * pixel < xs[k+1], as AnnotationPolygon.Contains decides.
                    int i0 = Math.Max(0, (int)Math.Ceiling(xs[k] / pixel - 0.5));
                    int i1 = Math.Min(w - 1, (int)Math.Ceiling(xs[k + 1] / pixel - 0.5) - 1);
                    for (int i = i0; i <= i1; i++) inside[i] ^= 1;
                }
            }
            for (int i = 0; i < w; i++) if (inside[i] == 1) mask[j * w + i] = value;
        }
    }

    /// <summary>Exact squared Euclidean distance to the nearest true pixel (Felzenszwalb and Huttenlocher, two 1-D passes).</summary>
    public static double[] SquaredDistanceToTrue(bool[] mask, int w, int h)
    {
        const double Inf = 1e20;
        var d = new double[w * h];
        for (int i = 0; i < d.Length; i++) d[i] = mask[i] ? 0 : Inf;
        var f = new double[Math.Max(w, h)];
        var o = new double[Math.Max(w, h)];
        for (int x = 0; x < w; x++)
        {
            for (int y = 0; y < h; y++) f[y] = d[y * w + x];
            Dt1(f, h, o);
            for (int y = 0; y < h; y++) d[y * w + x] = o[y];
        }
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++) f[x] = d[y * w + x];
            Dt1(f, w, o);
            for (int x = 0; x < w; x++) d[y * w + x] = o[x];
        }
        return d;
    }

    private static void Dt1(double[] f, int n, double[] d)
    {
        var v = new int[n];
        var z = new double[n + 1];
        int k = 0;
        v[0] = 0; z[0] = double.NegativeInfinity; z[1] = double.PositiveInfinity;
        for (int q = 1; q < n; q++)
        {
            double s;
            while (true)
            {
                s = (f[q] + (double)q * q - (f[v[k]] + (double)v[k] * v[k])) / (2.0 * q - 2.0 * v[k]);
                if (s <= z[k] && k > 0) { k--; continue; }
                break;
            }
            if (s <= z[k]) { v[k] = q; z[k + 1] = double.PositiveInfinity; continue; } // k == 0 and q dominates
            k++;
            v[k] = q; z[k] = s; z[k + 1] = double.PositiveInfinity;
        }
        k = 0;
        for (int q = 0; q < n; q++)
        {
            while (z[k + 1] < q) k++;
            d[q] = (q - v[k]) * (double)(q - v[k]) + f[v[k]];
        }
    }

    /// <summary>scipy's binary_fill_holes: background not 4-connected to the border becomes foreground.</summary>
    public static void FillHoles(bool[] mask, int w, int h)
    {
        var outside = new bool[w * h];
        var stack = new Stack<int>();
        void Push(int i) { if (!mask[i] && !outside[i]) { outside[i] = true; stack.Push(i); } }
        for (int x = 0; x < w; x++) { Push(x); Push((h - 1) * w + x); }
        for (int y = 0; y < h; y++) { Push(y * w); Push(y * w + w - 1); }
        while (stack.Count > 0)
        {
            int i = stack.Pop(), x = i % w, y = i / w;
            if (x > 0) Push(i - 1);
            if (x < w - 1) Push(i + 1);
            if (y > 0) Push(i - w);
            if (y < h - 1) Push(i + w);
        }
        for (int i = 0; i < mask.Length; i++) if (!outside[i]) mask[i] = true;
    }

    /// <summary>skimage.measure.label(connectivity=2): 8-connected components numbered in raster order of their first pixel.</summary>
    public static (int[] Labels, int Count) Label8(bool[] mask, int w, int h)
    {
        var labels = new int[w * h];
        int count = 0;
        var stack = new Stack<int>();
        for (int start = 0; start < mask.Length; start++)
        {
            if (!mask[start] || labels[start] != 0) continue;
            labels[start] = ++count;
            stack.Push(start);
            while (stack.Count > 0)
            {
                int i = stack.Pop(), x = i % w, y = i / w;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        int nx = x + dx, ny = y + dy;
                        if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
                        int k = ny * w + nx;
                        if (mask[k] && labels[k] == 0) { labels[k] = count; stack.Push(k); }
                    }
            }
        }
        return (labels, count);
    }
}
