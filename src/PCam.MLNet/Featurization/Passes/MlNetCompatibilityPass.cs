using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PCam.MLNet.Featurization.Passes;

/// <summary>
/// Last pass, always run. Contract: ML.NET's OnnxTransformer maps every top-level initializer's element type to an
/// ML.NET type and fails on float16/bfloat16 ("Unsupported ONNX scalar type: Float16"), so such initializers become
/// Constant nodes with the same output name (same values, same external data; ONNX Runtime folds them back).
/// Features are unchanged, so the cache fingerprint is too.
/// </summary>
internal static class MlNetCompatibilityPass
{
    static readonly HashSet<int> Unsupported = [(int)DataType.Float16, (int)DataType.Bfloat16];

    public static void Apply(ModelProto model)
    {
        var g = model.Graph;
        var moved = g.Initializer.Where(t => Unsupported.Contains(t.DataType)).ToList();
        if (moved.Count == 0) return;
        var keep = g.Initializer.Where(t => !Unsupported.Contains(t.DataType)).ToList();
        g.Initializer.Clear();
        g.Initializer.AddRange(keep);
        for (int i = moved.Count - 1; i >= 0; i--)
        {
            var t = moved[i];
            var node = new NodeProto { OpType = "Constant", Name = "pcam_const_" + t.Name, Output = { t.Name } };
            node.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = t });
            g.Node.Insert(0, node);
        }
    }
}
