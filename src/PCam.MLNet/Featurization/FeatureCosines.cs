namespace PCam.MLNet.Featurization;

/// <summary>How far two featurizers' outputs drift apart: the int8 check and the precision benchmark share it.</summary>
public static class FeatureCosines
{
    /// <summary>Row-wise cosine similarity of two count x dim feature matrices: (minimum, mean).</summary>
    public static (double Min, double Mean) Of(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int count, int dim)
    {
        double min = double.PositiveInfinity, sum = 0;
        for (int r = 0; r < count; r++)
        {
            double dot = 0, na = 0, nb = 0;
            for (int k = 0; k < dim; k++)
            {
                double x = a[r * dim + k], y = b[r * dim + k];
                dot += x * y; na += x * x; nb += y * y;
            }
            double c = na == 0 && nb == 0 ? 1 : dot / Math.Sqrt(na * nb);
            min = Math.Min(min, c);
            sum += c;
        }
        return (min, sum / count);
    }
}
