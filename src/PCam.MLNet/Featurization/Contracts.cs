namespace PCam.MLNet.Featurization;

// CONTRACT (to be implemented by the featurizer work).

public enum ChannelOrder { RGB, BGR }

/// <summary>A pretrained ONNX image backbone described as data (as timm's pretrained config).</summary>
public sealed class BackboneConfig
{
    public string Name { get; set; } = "resnet18-imagenet";
    /// <summary>ONNX file; relative paths resolve against the app's base directory.</summary>
    public string OnnxPath { get; set; } = "DnnImageModels/ResNet18Onnx/ResNet18.onnx";
    public ChannelOrder ChannelOrder { get; set; } = ChannelOrder.BGR;
    /// <summary>Pixel values are multiplied by Scale, then (v - Mean[c]) / Std[c]; Caffe mode: Scale 1, Std 1.</summary>
    public float Scale { get; set; } = 1f;
    public float[] Mean { get; set; } = [103.06f, 115.90f, 123.15f];
    public float[] Std { get; set; } = [1f, 1f, 1f];
    /// <summary>Square input size the backbone was trained at.</summary>
    public int InputSize { get; set; } = 224;
    /// <summary>Graph tensors (NCHW feature maps) to pool into features.</summary>
    public string[] FeatureOutputs { get; set; } = [];

    public static BackboneConfig ResNet18() => throw new NotImplementedException();
    public static BackboneConfig Load(string jsonPath) => throw new NotImplementedException();
}

public sealed class FeaturizerOptions
{
    /// <summary>Side the 96x96 patch is resized to before the backbone (96 = native).</summary>
    public int ImageSize { get; set; } = 96;
    /// <summary>Average features over the 8 dihedral views (rotations and flips).</summary>
    public bool Tta { get; set; }
}

/// <summary>One composed ONNX graph: uint8 [N,96,96,3] RGB "Image" in, float [N,D] "Features" out.</summary>
public sealed class FeaturizerGraph
{
    public const string InputName = "Image";
    public const string OutputName = "Features";
    public byte[] ModelBytes => throw new NotImplementedException();
    public int FeatureDimension => throw new NotImplementedException();
    /// <summary>Stable hash of backbone bytes + preprocessing + options, for cache keys.</summary>
    public string Fingerprint => throw new NotImplementedException();
    public static FeaturizerGraph Build(BackboneConfig backbone, FeaturizerOptions options) => throw new NotImplementedException();
}

public readonly record struct ExecutionDevice(bool Cuda, int DeviceId)
{
    public static ExecutionDevice Cpu => new(false, 0);
    /// <summary>"cpu", "cuda" or "cuda:N".</summary>
    public static ExecutionDevice Parse(string text) => throw new NotImplementedException();
    public override string ToString() => Cuda ? $"cuda:{DeviceId}" : "cpu";
}

/// <summary>Runs a FeaturizerGraph in batches with ONNX Runtime.</summary>
public sealed class BatchFeaturizer : IDisposable
{
    public BatchFeaturizer(FeaturizerGraph graph, ExecutionDevice device, int? threads = null) => throw new NotImplementedException();
    /// <summary>What actually runs ("cpu", "cuda:0", or "cpu (CUDA unavailable: ...)").</summary>
    public string DeviceDescription => throw new NotImplementedException();
    public int FeatureDimension => throw new NotImplementedException();
    /// <summary>images: count x 27648 bytes (HWC RGB); features: count x FeatureDimension.</summary>
    public void Featurize(ReadOnlySpan<byte> images, int count, Span<float> features) => throw new NotImplementedException();
    public void Dispose() => throw new NotImplementedException();
}
