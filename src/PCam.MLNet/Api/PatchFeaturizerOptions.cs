using PCam.MLNet.Featurization;
using PCam.MLNet.Featurization.Passes;

namespace PCam.MLNet;

/// <summary>
/// Options of <see cref="PCamCatalog.FeaturizePatches"/>. The defaults are the ones <c>pcam train</c> uses
/// (ResNet18 ImageNet, 192 px, 8-view TTA, int8 calibrated on the rows it is fitted on).
/// </summary>
public sealed class PatchFeaturizerOptions
{
    /// <summary>Built-in backbone name (<c>"resnet18-imagenet"</c>, the default) or the path of a backbone JSON file (see backbones/).</summary>
    public string Backbone { get; set; } = "resnet18-imagenet";

    /// <summary>Side the 96x96 patch is resized to before the backbone. Default 192 (most accurate); 96 is native and ~4x faster;
    /// 0 takes the backbone's own input size. The built-in ResNet18 needs a multiple of 32.</summary>
    public int ImageSize { get; set; } = FeaturizerOptions.DefaultImageSize;

    /// <summary>Test-time augmentation: average the features of the 8 rotations/flips of each patch, for every view the
    /// transformer featurizes and in the saved model. Default true. For training rows featurized with one view (8x cheaper),
    /// featurize them with <see cref="PatchFeaturizerTransformer.SingleView"/>.</summary>
    public bool Tta { get; set; } = true;

    /// <summary>Also pool the centre third of each feature map (PCam's label depends only on the centre 32x32 px). Default false.</summary>
    public bool CenterPool { get; set; }

    /// <summary>Append 12 colour features (RGB mean/std of the patch and of its centre 32x32). Default false.</summary>
    public bool ColorStats { get; set; }

    /// <summary>Featurizer precision: <see cref="FeaturizerPrecision.Int8"/> (default; static quantisation calibrated on the data
    /// <c>Fit</c> sees, checked against fp32, falling back to fp32 with a warning) or <see cref="FeaturizerPrecision.Fp32"/>.</summary>
    public FeaturizerPrecision Precision { get; set; } = FeaturizerPrecision.Int8;

    /// <summary>With int8: how many seeded, class-balanced rows of the fitted data the activation ranges are measured on. Default 512.</summary>
    public int CalibrationRows { get; set; } = 512;

    /// <summary>With int8: how ranges are read from the calibration rows. Default <see cref="Featurization.Passes.CalibrationMethod.MinMax"/>.</summary>
    public CalibrationMethod CalibrationMethod { get; set; } = CalibrationMethod.MinMax;

    /// <summary>Seed of the calibration sample. Default 1.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Rows per ONNX Runtime batch when a cursor featurizes. Default 64.</summary>
    public int BatchSize { get; set; } = 64;

    /// <summary>ONNX Runtime threads; null (default) = all cores.</summary>
    public int? Threads { get; set; }

    /// <summary>Where featurization runs: <c>"cpu"</c> (default), <c>"cuda"</c> or <c>"cuda:N"</c> (needs the GPU build of ONNX Runtime).</summary>
    public string Device { get; set; } = "cpu";

    /// <summary>
    /// A folder for feature caches, or null (default: none). When set, the features of every view loaded with
    /// <see cref="PCamCatalog.LoadFromPCam"/> are kept there as ML.NET binary files keyed by the data's identity and the
    /// featurizer's fingerprint, so a second pass, run or trainer reuses them instead of running the backbone again. The
    /// file is written by the first cursor that reads the features, never by <c>Transform</c> itself. Other views are
    /// featurized on every pass; cache those with ML.NET's <c>AppendCacheCheckpoint</c>.
    /// </summary>
    public string? CacheDirectory { get; set; }

    internal FeaturizerOptions ToFeaturizerOptions(bool tta) =>
        new() { ImageSize = ImageSize, Tta = tta, CenterPool = CenterPool, ColorStats = ColorStats };

    internal PatchFeaturizerOptions Clone() => (PatchFeaturizerOptions)MemberwiseClone();
}
