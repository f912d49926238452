using System.Text.Json;
using System.Text.Json.Serialization;

namespace PCam.MLNet.Featurization;

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
    /// <summary>Graph tensors (NCHW feature maps, or [N,D] vectors) to pool into features; empty = the graph outputs.</summary>
    public string[] FeatureOutputs { get; set; } = [];

    /// <summary>Outputs of the four residual stages of the packaged CNTK ResNet18 (64/128/256/512 channels; stride 4/8/16/32).</summary>
    public static class ResNet18Stages
    {
        public const string Layer1 = "ReLU283_Output_0";
        public const string Layer2 = "ReLU315_Output_0";
        public const string Layer3 = "ReLU347_Output_0";
        public const string Layer4 = "ReLU393_Output_0";
    }

    /// <summary>The ImageNet ResNet18 shipped by Microsoft.ML.DnnImageFeaturizer.ResNet18 (Caffe preprocessing).</summary>
    public static BackboneConfig ResNet18() => new()
    {
        Name = "resnet18-imagenet",
        OnnxPath = "DnnImageModels/ResNet18Onnx/ResNet18.onnx",
        ChannelOrder = ChannelOrder.BGR,
        Scale = 1f,
        Mean = [103.06f, 115.90f, 123.15f],
        Std = [1f, 1f, 1f],
        InputSize = 224,
        // Chosen by the ablation in docs/ablation.md.
        FeatureOutputs = [ResNet18Stages.Layer2, ResNet18Stages.Layer3, ResNet18Stages.Layer4],
    };

    /// <summary>Absolute ONNX path: rooted as given, else relative to <paramref name="baseDirectory"/> (default: the app's base directory).</summary>
    public string ResolveOnnxPath(string? baseDirectory = null) =>
        Path.IsPathRooted(OnnxPath) ? OnnxPath : Path.GetFullPath(Path.Combine(baseDirectory ?? AppContext.BaseDirectory, OnnxPath));

    /// <summary>Checks the fields that do not need the ONNX file.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(OnnxPath)) throw new ArgumentException($"Backbone '{Name}': OnnxPath is empty.");
        if (Mean is not { Length: 3 }) throw new ArgumentException($"Backbone '{Name}': Mean must have 3 values (one per channel).");
        if (Std is not { Length: 3 } || Std.Any(s => s == 0f)) throw new ArgumentException($"Backbone '{Name}': Std must have 3 non-zero values.");
        if (Scale == 0f) throw new ArgumentException($"Backbone '{Name}': Scale must be non-zero.");
        if (InputSize <= 0) throw new ArgumentException($"Backbone '{Name}': InputSize must be positive.");
    }

    static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        PropertyNameCaseInsensitive = true,
        Converters = { new JsonStringEnumConverter() },
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static BackboneConfig FromJson(string json) =>
        JsonSerializer.Deserialize<BackboneConfig>(json, JsonOptions) ?? throw new ArgumentException("Backbone JSON is empty (null).");

    public void Save(string path) => File.WriteAllText(path, ToJson());

    /// <summary>Loads a config; a relative OnnxPath is made absolute against the JSON file's folder when the model lies there.</summary>
    public static BackboneConfig Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Backbone config not found: {Path.GetFullPath(path)}", path);
        var config = FromJson(File.ReadAllText(path));
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Path.IsPathRooted(config.OnnxPath) && File.Exists(Path.Combine(dir, config.OnnxPath)))
            config.OnnxPath = Path.GetFullPath(Path.Combine(dir, config.OnnxPath));
        config.Validate();
        return config;
    }
}

public sealed class FeaturizerOptions
{
    /// <summary>Side the 96x96 patch is resized to before the backbone (96 = native; 0 = the backbone's InputSize).
    /// The packaged ResNet18 needs a multiple of 32 (its CNTK export pads stride-2 convolutions for even maps only).</summary>
    public int ImageSize { get; set; } = DefaultImageSize;
    /// <summary>2x upsampling: +2 pt accuracy, +0.016 AUC over 96 px for ImageNet ResNet18 (docs/ablation.md); use 96 for ~4x speed.</summary>
    public const int DefaultImageSize = 192;
    /// <summary>Average features over the 8 dihedral views (rotations and flips).</summary>
    public bool Tta { get; set; }
    /// <summary>Also average each 4-D feature map over its centre third (PCam's label depends only on the centre 32x32 px).</summary>
    public bool CenterPool { get; set; }
    /// <summary>Append per-channel RGB mean and std (in [0,1]) of the whole patch and of its centre 32x32 (12 values).</summary>
    public bool ColorStats { get; set; }
}
