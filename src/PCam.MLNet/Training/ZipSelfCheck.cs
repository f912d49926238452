using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Onnx;
using PCam.MLNet.Data;

namespace PCam.MLNet.Training;

/// <summary>What the self-check proved: rows scored from raw pixels, the split they came from, the largest difference.</summary>
public sealed record ZipCheck(int Rows, string Split, double MaxDifference)
{
    public string Describe() =>
        $"Self-check: the written zip, reloaded, scores {Rows} raw {Split} patches with the trainer's probabilities " +
        $"(max |dP| {MaxDifference.ToString("G2", CultureInfo.InvariantCulture)}, tolerance {ZipSelfCheck.Tolerance:G1}).";
}

/// <summary>
/// <c>pcam train</c>'s proof that the zip it writes is the model it measured. The zip is written under a staging name,
/// loaded back in a fresh MLContext (as any consumer loads it), run on the first <see cref="Rows"/> rows of the test
/// split (else valid) from their raw pixels, and its probabilities compared with the ones the trainer computed for the
/// same rows from cached features (within <see cref="Tolerance"/>). A load failure or a mismatch is one
/// <see cref="PCamModelException"/> and the staged zip is deleted; only a proved zip is renamed to its final name.
/// The reported metrics then come from the reloaded zip's own head (every transform after its featurizer) over the
/// cached features of the featurizer graph the zip holds, so the numbers printed and written are the zip's.
/// </summary>
public static class ZipSelfCheck
{
    /// <summary>Rows scored from raw pixels (each runs the full featurizer, 8 views with TTA, one row at a time).</summary>
    public const int Rows = 8;
    /// <summary>Largest accepted |P(zip) - P(trainer)|.</summary>
    public const double Tolerance = 1e-4;
    /// <summary>Test-only: when this environment variable is "1" the trainer's probabilities are shifted by 0.01 before
    /// the comparison, so the tests can prove that a mismatch fails the run and leaves no zip.</summary>
    public const string FaultVariable = "PCAM_TEST_SELFCHECK_MISMATCH";

    /// <summary>
    /// Loads <paramref name="staged"/> in a fresh MLContext and compares its probabilities on the first rows of
    /// <paramref name="data"/> with <paramref name="expected"/> (the trainer's, for the same rows in the same order).
    /// Returns the loaded model (the caller owns it) and what was proved; throws a PCamModelException naming
    /// <paramref name="finalPath"/> otherwise (the staged file is left for the caller to delete).
    /// </summary>
    public static (ITransformer Model, ZipCheck Check) Verify(string staged, string finalPath, PatchDataView data, string split,
        IReadOnlyList<ScoredRow> expected, int seed)
    {
        var ml = new MLContext(seed);
        ITransformer model;
        try
        {
            model = PCamModel.Load(ml, staged, out _);
        }
        catch (PCamModelException e)
        {
            throw new PCamModelException($"{finalPath}: self-check failed: the zip just written does not load back ({e.Message}); no model was written.", e);
        }
        try
        {
            var n = Math.Min(Rows, expected.Count);
            List<ScoredRow> actual;
            try
            {
                using var rows = data.Take(n);
                actual = PCamMetrics.ReadScored(model.Transform(rows));
            }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException)
            {
                throw new PCamModelException($"{finalPath}: self-check failed: the zip just written loads but cannot score {split} patches " +
                                             $"({e.Message.Split('\n')[0].Trim()}); no model was written.", e);
            }
            if (actual.Count != n)
                throw new PCamModelException($"{finalPath}: self-check failed: the zip scored {actual.Count} of {n} {split} rows; no model was written.");
            var shift = Environment.GetEnvironmentVariable(FaultVariable) == "1" ? 0.01f : 0f;
            double max = 0;
            for (var i = 0; i < n; i++)
            {
                if (actual[i].Index != expected[i].Index)
                    throw new PCamModelException($"{finalPath}: self-check failed: {split} row {i} is PCam index {actual[i].Index} from the pixels " +
                                                 $"but {expected[i].Index} in the trainer's scores; no model was written.");
                var want = expected[i].Probability + shift;
                var d = Math.Abs((double)actual[i].Probability - want);
                if (double.IsNaN(d) || d > Tolerance)
                    throw new PCamModelException(
                        $"{finalPath}: self-check failed: the written zip, reloaded and run on raw {split} patch {actual[i].Index}, gives probability " +
                        $"{actual[i].Probability.ToString("R", CultureInfo.InvariantCulture)} but the trainer computed " +
                        $"{want.ToString("R", CultureInfo.InvariantCulture)} (|dP| {d:G3} > {Tolerance:G1}); the zip is not the model the " +
                        "metrics describe, so no model was written (this is a bug in PCam.MLNet: please report it).");
                max = Math.Max(max, d);
            }
            return (model, new ZipCheck(n, split, max));
        }
        catch
        {
            PCamModel.Owner(model).Dispose();
            throw;
        }
    }

    /// <summary>The zip's head: every transform after its ONNX featurizer (as the heatmap runs it on batched features).</summary>
    public static ITransformer Head(ITransformer zipModel, string path) =>
        zipModel is TransformerChain<ITransformer> chain && chain.FirstOrDefault() is OnnxTransformer
            ? new TransformerChain<ITransformer>(chain.Skip(1).ToArray())
            : throw new PCamModelException($"{path}: the model is not an ONNX featurizer followed by a head.");
}
