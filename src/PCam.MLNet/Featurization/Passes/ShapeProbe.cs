using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using PCam.MLNet.Data;

namespace PCam.MLNet.Featurization.Passes;

/// <summary>
/// Runs the adapted backbone (preprocessing + backbone, features exposed as outputs) on two different patches in one
/// batch to learn each feature tensor's shape (ONNX Runtime does the shape inference). For an export with a fixed
/// batch it also proves the batch was made dynamic: batch 2 must give 2 rows, the second equal to a batch-1 run.
/// </summary>
internal static class ShapeProbe
{
    /// <summary>Feature shapes (leading dim 2), or null when a fixed-batch export failed the batch-2 proof.</summary>
    public static long[][]? Run(AdaptedBackbone probe, BackboneConfig b, string onnxPath, int size, string? externalFolder)
    {
        var g = probe.Model.Graph;
        for (int i = 0; i < probe.FeatureNames.Length; i++)
            g.Output.Add(new ValueInfoProto { Name = probe.FeatureNames[i], Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)probe.FeatureTypes[i] } } });
        using var so = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC };
        ExternalData.Configure(so, externalFolder);
        bool checkBatch = probe.FixedBatch > 0 && !probe.SingleRow;
        InferenceSession session;
        try { session = new InferenceSession(probe.Model.ToByteArray(), so); }
        catch (OnnxRuntimeException e)
        {
            throw new PCamBackboneException($"{b.Where} (ONNX {onnxPath}): ONNX Runtime cannot load it: {FirstLine(e.Message)}", e);
        }
        using var _s = session;
        // Row 0 blank, row 1 a gradient: different rows, so a batch mix-up cannot go unseen.
        int side = probe.InputSide, rowBytes = side * side * PatchSchema.Channels;
        var images = new byte[2 * rowBytes];
        for (int i = 0; i < rowBytes; i++) images[rowBytes + i] = (byte)(i * 7 % 251);
        float[][] two;
        long[][] shapes;
        try
        {
            (shapes, two) = RunBatch(session, probe.FeatureNames, images, 2, side);
        }
        catch (OnnxRuntimeException e)
        {
            if (checkBatch) return null;
            throw SizeError(b, onnxPath, size, e);
        }
        if (checkBatch)
        {
            if (shapes.Any(s => s.Length == 0 || s[0] != 2)) return null;
            var (_, one) = RunBatch(session, probe.FeatureNames, images.AsSpan(rowBytes).ToArray(), 1, side);
            for (int f = 0; f < one.Length; f++)
            {
                int n = one[f].Length;
                for (int i = 0; i < n; i++)
                    if (Math.Abs(one[f][i] - two[f][n + i]) > 1e-3 * Math.Max(1, Math.Abs(one[f][i]))) return null;
            }
        }
        for (int i = 0; i < shapes.Length; i++)
            if (shapes[i].Length is not (2 or 3 or 4))
                throw new PCamBackboneException($"{b.Where} (ONNX {onnxPath}): feature tensor '{probe.FeatureNames[i]}' has shape [{string.Join(",", shapes[i])}]; " +
                                                "expected NCHW maps [N,C,H,W], tokens [N,T,D] or vectors [N,D].");
        return shapes;
    }

    static PCamBackboneException SizeError(BackboneConfig b, string onnxPath, int size, OnnxRuntimeException e) =>
        // E.g. the CNTK ResNet18's asymmetric stride-2 padding only lines up for input sides that are multiples of 32; a ViT's fixed position embeddings.
        new($"{b.Where} (ONNX {onnxPath}) does not run at {size}x{size} px (it accepts {b.AcceptedText()}; ImageSize 0 = its inputSize {b.InputSize}): {FirstLine(e.Message)}", e);

    static (long[][], float[][]) RunBatch(InferenceSession session, string[] outputs, byte[] images, int n, int side)
    {
        using var input = OrtValue.CreateTensorValueFromMemory(images, [n, side, side, PatchSchema.Channels]);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [FeaturizerGraph.InputName], [input], outputs);
        var shapes = results.Select(r => r.GetTensorTypeAndShape().Shape).ToArray();
        var values = results.Select(r => r.GetTensorTypeAndShape().ElementDataType == TensorElementType.Float16
            ? r.GetTensorDataAsSpan<Float16>().ToArray().Select(h => (float)h).ToArray()
            : r.GetTensorDataAsSpan<float>().ToArray()).ToArray();
        return (shapes, values);
    }

    static string FirstLine(string s) => s.Split('\n')[0].Trim();
}
