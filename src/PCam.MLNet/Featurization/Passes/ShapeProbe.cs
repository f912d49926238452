using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using PCam.MLNet.Data;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PCam.MLNet.Featurization.Passes;

/// <summary>
/// Runs the adapted backbone (preprocessing + backbone, features exposed as outputs) on blank patches to learn each
/// feature tensor's shape; ONNX Runtime does the shape inference.
/// </summary>
internal static class ShapeProbe
{
    public static long[][] Run(AdaptedBackbone probe, BackboneConfig b, int size)
    {
        foreach (var f in probe.FeatureNames)
            probe.Model.Graph.Output.Add(new ValueInfoProto { Name = f, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float } } });
        using var so = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC };
        using var session = new InferenceSession(probe.Model.ToByteArray(), so);
        var image = new byte[PatchSchema.ImageBytes];
        using var input = OrtValue.CreateTensorValueFromMemory(image, [1, PatchSchema.Height, PatchSchema.Width, PatchSchema.Channels]);
        using var runOptions = new RunOptions();
        IDisposableReadOnlyCollection<OrtValue> results;
        try { results = session.Run(runOptions, [FeaturizerGraph.InputName], [input], probe.FeatureNames); }
        catch (OnnxRuntimeException e)
        {
            // E.g. the CNTK ResNet18's asymmetric stride-2 padding only lines up for input sides that are multiples of 32.
            throw new InvalidDataException($"Backbone '{b.Name}' does not run at {size}x{size} px: {e.Message.Split('\n')[0]}", e);
        }
        using var _ = results;
        var shapes = results.Select(r => r.GetTensorTypeAndShape().Shape).ToArray();
        for (int i = 0; i < shapes.Length; i++)
            if (shapes[i].Length is not (2 or 4))
                throw new InvalidDataException($"Backbone '{b.Name}': feature output '{probe.FeatureNames[i]}' has shape [{string.Join(",", shapes[i])}]; expected NCHW [N,C,H,W] or [N,D].");
        return shapes;
    }
}
