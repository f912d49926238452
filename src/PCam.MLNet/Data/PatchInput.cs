using Microsoft.ML.Data;

namespace PCam.MLNet.Data;

/// <summary>The model's input row: one patch, 96x96x3 HWC RGB bytes (what consuming apps fill in).</summary>
public sealed class PatchInput
{
    [VectorType(PatchSchema.Height, PatchSchema.Width, PatchSchema.Channels)]
    [ColumnName(PatchSchema.ImageColumn)]
    public byte[] Image { get; set; } = new byte[PatchSchema.ImageBytes];
}

/// <summary>The model's output columns.</summary>
public sealed class PatchPrediction
{
    public bool PredictedLabel { get; set; }
    public float Score { get; set; }
    public float Probability { get; set; }
}
