using PCam.MLNet.Slides.Heatmap;

namespace PCam.MLNet.Slides.Windows;

/// <summary>
/// Resamples an n x n RGB square to 96 x 96, separably: area averaging when shrinking (each output pixel is the mean of
/// the source area it covers, fractional pixels weighted by their overlap, so a scale of 2 is the exact 2x2 mean) and
/// bilinear interpolation when enlarging. Weights depend only on the scale, so they are computed once.
/// </summary>
public sealed class WindowResampler
{
    private readonly int _n, _out;
    private readonly (int Index, float Weight)[][] _taps;
    private readonly float[] _rows;

    /// <param name="sourceSize">Side of the source square (level pixels).</param>
    /// <param name="scale">Source pixels per output pixel.</param>
    public WindowResampler(int sourceSize, double scale, int outputSize = SlideHeatmap.Window)
    {
        _n = sourceSize;
        _out = outputSize;
        _taps = new (int, float)[outputSize][];
        for (int o = 0; o < outputSize; o++)
        {
            var taps = new List<(int, float)>();
            if (scale >= 1)
            {
                double a = o * scale, b = Math.Min((o + 1) * scale, sourceSize);
                for (int i = (int)Math.Floor(a); i < b && i < sourceSize; i++)
                {
                    double overlap = Math.Min(b, i + 1) - Math.Max(a, i);
                    if (overlap > 1e-9) taps.Add((i, (float)(overlap / (b - a))));
                }
            }
            else
            {
                double c = (o + 0.5) * scale - 0.5;
                int i0 = (int)Math.Floor(c);
                float f = (float)(c - i0);
                taps.Add((Math.Clamp(i0, 0, sourceSize - 1), 1 - f));
                taps.Add((Math.Clamp(i0 + 1, 0, sourceSize - 1), f));
            }
            _taps[o] = taps.ToArray();
        }
        _rows = new float[sourceSize * outputSize * 3];
    }

    /// <summary>Resamples <paramref name="source"/> (n x n x 3) into <paramref name="target"/> (96 x 96 x 3). Not thread-safe (one scratch buffer).</summary>
    public void Resample(ReadOnlySpan<byte> source, Span<byte> target)
    {
        // Horizontal pass: n rows x 96 columns.
        for (int y = 0; y < _n; y++)
        {
            var row = source.Slice(y * _n * 3, _n * 3);
            for (int o = 0; o < _out; o++)
            {
                float r = 0, g = 0, b = 0;
                foreach (var (i, w) in _taps[o])
                {
                    r += row[i * 3] * w; g += row[i * 3 + 1] * w; b += row[i * 3 + 2] * w;
                }
                int k = (y * _out + o) * 3;
                _rows[k] = r; _rows[k + 1] = g; _rows[k + 2] = b;
            }
        }
        // Vertical pass.
        for (int o = 0; o < _out; o++)
            for (int x = 0; x < _out; x++)
            {
                float r = 0, g = 0, b = 0;
                foreach (var (i, w) in _taps[o])
                {
                    int k = (i * _out + x) * 3;
                    r += _rows[k] * w; g += _rows[k + 1] * w; b += _rows[k + 2] * w;
                }
                int t = (o * _out + x) * 3;
                target[t] = (byte)Math.Clamp(MathF.Round(r, MidpointRounding.AwayFromZero), 0, 255);
                target[t + 1] = (byte)Math.Clamp(MathF.Round(g, MidpointRounding.AwayFromZero), 0, 255);
                target[t + 2] = (byte)Math.Clamp(MathF.Round(b, MidpointRounding.AwayFromZero), 0, 255);
            }
    }
}
