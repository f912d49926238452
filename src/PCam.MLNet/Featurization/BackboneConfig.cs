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
    /// <summary>Graph tensors (NCHW feature maps, [N,T,D] token sequences, or [N,D] vectors) to pool into features; empty = the graph outputs.</summary>
    public string[] FeatureOutputs { get; set; } = [];
    /// <summary>How a token output [N,T,D] becomes a vector: "cls" (token 0, default), "mean" (mean of the patch
    /// tokens PrefixTokens..T-1) or "cls+mean" (both concatenated, 2D values).</summary>
    public string TokenPooling { get; set; } = TokenPoolings.Cls;
    /// <summary>Leading non-patch tokens of a token output: the class token plus any register tokens (default 1).</summary>
    public int PrefixTokens { get; set; } = 1;
    /// <summary>Input sides must be multiples of it (a ViT's patch size, a CNN's total stride; 0 = no such rule).</summary>
    public int PatchSize { get; set; }
    /// <summary>The only input sides the export runs at (e.g. fixed position embeddings); empty = any size that runs.</summary>
    public int[] AcceptedSizes { get; set; } = [];
    /// <summary>Where the preprocessing values come from (model card URL); documentation only.</summary>
    public string? Source { get; set; }

    /// <summary>The JSON file this config was loaded from (null for built-in backbones); named in every backbone error.</summary>
    [JsonIgnore]
    public string? ConfigPath { get; set; }

    /// <summary>How errors name this backbone: its JSON file, else its name.</summary>
    [JsonIgnore]
    public string Where => ConfigPath is null ? $"backbone '{Name}'" : $"backbone {ConfigPath}";

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
        // The packaged CNTK ResNet18 pads its stride-2 convolutions for even maps only: sides 96, 128, ..., 224.
        PatchSize = 32,
        // Chosen by the ablation in docs/ablation.md.
        FeatureOutputs = [ResNet18Stages.Layer2, ResNet18Stages.Layer3, ResNet18Stages.Layer4],
    };

    /// <summary>Absolute ONNX path: rooted as given, else relative to <paramref name="baseDirectory"/> (default: the app's base directory).</summary>
    public string ResolveOnnxPath(string? baseDirectory = null) =>
        Path.IsPathRooted(OnnxPath) ? OnnxPath : Path.GetFullPath(Path.Combine(baseDirectory ?? AppContext.BaseDirectory, OnnxPath));

    /// <summary>Checks the fields that do not need the ONNX file.</summary>
    public void Validate()
    {
        void Fail(string field, string problem) => throw new PCamBackboneException($"{Where}: field '{field}' {problem}");
        if (string.IsNullOrWhiteSpace(OnnxPath)) Fail("onnxPath", "is empty.");
        if (Mean is not { Length: 3 }) Fail("mean", "must have 3 values (one per channel).");
        if (Std is not { Length: 3 } || Std.Any(s => s == 0f)) Fail("std", "must have 3 non-zero values.");
        if (Scale == 0f) Fail("scale", "must be non-zero.");
        if (InputSize <= 0) Fail("inputSize", "must be positive.");
        if (!TokenPoolings.All.Contains(TokenPooling)) Fail("tokenPooling", $"is '{TokenPooling}'; expected one of {string.Join(", ", TokenPoolings.All.Select(t => $"\"{t}\""))}.");
        if (PrefixTokens < 0) Fail("prefixTokens", $"must be >= 0 (got {PrefixTokens}).");
        if (TokenPooling != TokenPoolings.Mean && PrefixTokens < 1) Fail("prefixTokens", $"must be >= 1 for tokenPooling \"{TokenPooling}\" (token 0 is the class token).");
        if (PatchSize < 0) Fail("patchSize", $"must be >= 0 (got {PatchSize}).");
        if (AcceptedSizes.Any(s => s <= 0)) Fail("acceptedSizes", "must hold positive sides.");
    }

    /// <summary>The input side the featurizer resizes to: ImageSize, or InputSize when ImageSize is 0.</summary>
    public int SideFor(int imageSize) => imageSize > 0 ? imageSize : InputSize;

    /// <summary>Throws before any heavy work when <paramref name="side"/> breaks PatchSize or AcceptedSizes.</summary>
    public void CheckSize(int side)
    {
        bool multiple = PatchSize <= 0 || side % PatchSize == 0;
        bool accepted = AcceptedSizes.Length == 0 || AcceptedSizes.Contains(side);
        if (multiple && accepted) return;
        throw new PCamBackboneException($"{Where}: cannot take {side}x{side} px input; it accepts {AcceptedText()} " +
                                        "(ImageSize 0 = its inputSize).");
    }

    /// <summary>"224 only", "multiples of 14" or "any size its graph runs at".</summary>
    public string AcceptedText() =>
        AcceptedSizes.Length > 0 ? string.Join(", ", AcceptedSizes) + (AcceptedSizes.Length == 1 ? " only" : "")
        : PatchSize > 0 ? $"multiples of {PatchSize} (e.g. {InputSize})"
        : "any size its graph runs at";

    static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        PropertyNameCaseInsensitive = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static BackboneConfig FromJson(string json) =>
        JsonSerializer.Deserialize<BackboneConfig>(json, JsonOptions) ?? throw new PCamBackboneException("Backbone JSON is empty (null).");

    public void Save(string path) => File.WriteAllText(path, ToJson());

    /// <summary>Loads a config; a relative OnnxPath is made absolute against the JSON file's folder (unless the model lies only in the app's base directory).</summary>
    public static BackboneConfig Load(string path)
    {
        if (!File.Exists(path)) throw new PCamBackboneException($"backbone {path}: file not found.");
        BackboneConfig config;
        try { config = FromJson(File.ReadAllText(path)); }
        catch (JsonException e) { throw new PCamBackboneException($"backbone {path}: not valid backbone JSON ({e.Message.ReplaceLineEndings(" ")}).", e); }
        config.ConfigPath = path;
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        // Beside the JSON first (catalogue entries: backbones/NAME.json -> backbones/onnx/NAME.onnx); the app's base
        // directory only when the file lies there and not beside the JSON.
        if (!Path.IsPathRooted(config.OnnxPath)
            && (File.Exists(Path.Combine(dir, config.OnnxPath)) || !File.Exists(config.ResolveOnnxPath())))
            config.OnnxPath = Path.GetFullPath(Path.Combine(dir, config.OnnxPath));
        config.Validate();
        return config;
    }
}

/// <summary>The values of BackboneConfig.TokenPooling.</summary>
public static class TokenPoolings
{
    public const string Cls = "cls";
    public const string Mean = "mean";
    public const string ClsMean = "cls+mean";
    public static readonly string[] All = [Cls, Mean, ClsMean];
}

public sealed class FeaturizerOptions
{
    /// <summary>Side of the square uint8 [N,side,side,3] images the graph takes: 0 = the 96x96 PCam patch. A caller
    /// that resizes its images itself (the image-classification trainer) sets it to <see cref="ImageSize"/>, so the
    /// graph does not resize again.</summary>
    public int InputSize { get; set; }
    /// <summary>The side the graph's "Image" input has (<see cref="InputSize"/>, or 96 when 0).</summary>
    public int InputSide => InputSize > 0 ? InputSize : PCam.MLNet.Data.PatchSchema.Height;
    /// <summary>Side the 96x96 patch is resized to (bilinear, half-pixel) before the backbone (96 = native; 0 = the backbone's InputSize).
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
