using Microsoft.ML.Data;

namespace PCam.Predict;

/// <summary>The model's input: one 96x96 RGB patch as HWC bytes (the layout of PCam's `x` dataset).</summary>
public sealed class PatchInput
{
    [VectorType(96, 96, 3)]
    public byte[] Image { get; set; } = new byte[96 * 96 * 3];
}

/// <summary>The model's output columns.</summary>
public sealed class PatchPrediction
{
    public bool PredictedLabel { get; set; }
    public float Score { get; set; }
    public float Probability { get; set; }
}
