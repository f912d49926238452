using PCam.MLNet.Data;
using static PCam.MLNet.Featurization.GraphWriter;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PCam.MLNet.Featurization.Passes;

/// <summary>
/// Pass 2. Contract: writes, before the backbone's first node, Image uint8 NHWC RGB -> float -> [8 dihedral views,
/// view-major in the batch] -> NCHW -> channel order -> (v*scale - mean)/std -> bilinear resize to size x size ->
/// [float16 cast when the backbone takes float16] -> the backbone's input tensor. Returns the float NHWC tensor of the raw pixels (for colour statistics).
/// </summary>
internal static class PreprocessPass
{
    public static string Apply(GraphWriter w, BackboneConfig b, AdaptedBackbone backbone, int size, bool tta)
    {
        var x = w.Node("Cast", [FeaturizerGraph.InputName], "f", true, Int("to", (int)DataType.Float));
        var rawFloat = x;
        if (tta)
        {
            // D4 = {identity, flips} x {no transpose, H<->W transpose}: 8 views stacked view-major into the batch.
            string Flip(string t, long axis) => w.Node("Slice", [t, w.Int64s("s", -1), w.Int64s("e", long.MinValue), w.Int64s("a", axis), w.Int64s("st", -1)], "flip", true);
            var h = Flip(x, 2);
            var v = Flip(x, 1);
            var hv = Flip(h, 1);
            var four = w.Node("Concat", [x, h, v, hv], "views4", true, Int("axis", 0));
            var tr = w.Node("Transpose", [four], "viewsT", true, Ints("perm", 0, 2, 1, 3));
            x = w.Node("Concat", [four, tr], "views8", true, Int("axis", 0));
        }
        x = w.Node("Transpose", [x], "nchw", true, Ints("perm", 0, 3, 1, 2));
        if (b.ChannelOrder == ChannelOrder.BGR)
            x = w.Node("Gather", [x, w.Int64s("bgr", 2, 1, 0)], "bgr", true, Int("axis", 1));
        // (v*scale - mean)/std folded into one multiply-add per channel.
        var a = Enumerable.Range(0, 3).Select(c => b.Scale / b.Std[c]).ToArray();
        var o = Enumerable.Range(0, 3).Select(c => -b.Mean[c] / b.Std[c]).ToArray();
        x = w.Node("Mul", [x, w.Floats("scale", [1, 3, 1, 1], a)], "mul", true);
        x = w.Node("Add", [x, w.Floats("offset", [1, 3, 1, 1], o)], "norm", true);
        if (size != backbone.InputSide)
        {
            // Sizes = [N, 3, size, size] with N read at run time (exact, unlike float scales).
            var nc = w.Node("Slice", [w.Node("Shape", [x], "shape", true), w.Int64s("s", 0), w.Int64s("e", 2), w.Int64s("a", 0)], "nc", true);
            var sizes = w.Node("Concat", [nc, w.Int64s("hw", size, size)], "sizes", true, Int("axis", 0));
            x = w.Node("Resize", [x, "", "", sizes], "resize", true, Str("mode", "linear"), Str("coordinate_transformation_mode", "half_pixel"));
        }
        if (backbone.InputType == DataType.Float16)
            x = w.Node("Cast", [x], "f16", true, Int("to", (int)DataType.Float16));
        w.NodeTo("Identity", [x], backbone.BackboneInput, true);
        return rawFloat;
    }
}
