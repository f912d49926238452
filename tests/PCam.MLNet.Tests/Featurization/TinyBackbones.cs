using Google.Protobuf;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PCam.MLNet.Tests.Featurization;

/// <summary>Backbones written by the tests themselves with the ONNX protobuf classes.</summary>
internal static class TinyBackbones
{
    static ValueInfoProto Info(string name, params object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d) });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float, Shape = shape } } };
    }

    static ModelProto Model(GraphProto g, int opset = 13) => new()
    {
        IrVersion = 7,
        ProducerName = "pcam-tests",
        Graph = g,
        OpsetImport = { new OperatorSetIdProto { Domain = "", Version = opset } },
    };

    /// <summary>x [N,3,H,W] -> 1x1 Conv with the identity 3x3 weight -> Relu -> "maps" [N,3,H,W] (so pooled features are channel means).</summary>
    public static void IdentityConv(string path)
    {
        var w = new TensorProto { Name = "w", DataType = (int)DataType.Float, Dims = { 3, 3, 1, 1 }, FloatData = { 1, 0, 0, 0, 1, 0, 0, 0, 1 } };
        var g = new GraphProto
        {
            Name = "tiny",
            Initializer = { w },
            Input = { Info("x", "batch", 3, 64, 64) },
            Output = { Info("maps", "batch", 3, 64, 64) },
        };
        g.Node.Add(new NodeProto { OpType = "Conv", Name = "conv", Input = { "x", "w" }, Output = { "conv_out" } });
        g.Node.Add(new NodeProto { OpType = "Relu", Name = "relu", Input = { "conv_out" }, Output = { "maps" } });
        File.WriteAllBytes(path, Model(g).ToByteArray());
    }

    /// <summary>A tabular model (x [N,10] -> Relu): not an image backbone.</summary>
    public static void Tabular(string path)
    {
        var g = new GraphProto { Name = "tab", Input = { Info("x", "batch", 10) }, Output = { Info("y", "batch", 10) } };
        g.Node.Add(new NodeProto { OpType = "Relu", Name = "relu", Input = { "x" }, Output = { "y" } });
        File.WriteAllBytes(path, Model(g).ToByteArray());
    }

    public static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "pcam-feat-tests-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(d);
        return d;
    }
}
