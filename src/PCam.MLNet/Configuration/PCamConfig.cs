using System.Text.Json;
using System.Text.Json.Serialization;

namespace PCam.MLNet.Configuration;

// The training configuration (mlnet.config.json). Section names follow ML.NET Model Builder's .mbconfig
// (Scenario, DataSource, Environment, TrainingOption) so ML.NET users read it at a glance.
// Every property has its default here; docs/configuration.md documents each one.

public sealed class PCamConfig
{
    /// <summary>Always "ImageClassification" (binary: tumour vs normal).</summary>
    public string Scenario { get; set; } = "ImageClassification";
    public DataSourceConfig DataSource { get; set; } = new();
    public EnvironmentConfig Environment { get; set; } = new();
    public TrainingOptionConfig TrainingOption { get; set; } = new();

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Converters = { new JsonStringEnumConverter() },
    };
}

public sealed class DataSourceConfig
{
    /// <summary>"PCam": official HDF5 files, an image-folder tree or the Kaggle layout (detected).</summary>
    public string Type { get; set; } = "PCam";
    /// <summary>Folder with the data; null = `data/pcam` if it exists, else the generated demo set.</summary>
    public string? Directory { get; set; }
    /// <summary>Rows of train used for the head: null = all; N = a seeded sample balanced by class.</summary>
    public long? MaxTrainRows { get; set; }
    /// <summary>Where decompressed .h5 and cached features go; null = `.pcam-cache` in the working directory.</summary>
    public string? CacheDirectory { get; set; }
    /// <summary>Check MD5 checksums (official table, or checksums.md5 beside the files); false = a mismatch or an
    /// unchecked file is only a warning saying what was skipped (e.g. a re-chunked or rebuilt official file).</summary>
    public bool VerifyChecksums { get; set; } = true;
}

public sealed class EnvironmentConfig
{
    /// <summary>"LocalCPU" or "LocalGPU" (Model Builder's names); LocalGPU implies Device "cuda" unless set.</summary>
    public string Type { get; set; } = "LocalCPU";
    /// <summary>"cpu", "cuda" or "cuda:N" for feature extraction (CUDA needs the -p:PCamGpu=true build).</summary>
    public string Device { get; set; } = "cpu";
    /// <summary>ONNX Runtime intra-op threads; null = all cores.</summary>
    public int? Threads { get; set; }
}

public sealed class TrainingOptionConfig
{
    /// <summary>Built-in backbone name ("resnet18-imagenet") or path to a backbone JSON file.</summary>
    public string Backbone { get; set; } = "resnet18-imagenet";
    /// <summary>Side the 96x96 patch is resized to before the backbone: 192 (default, most accurate) or 96 (native, ~4x faster); multiples of 32 for ResNet18.</summary>
    public int ImageSize { get; set; } = 192;
    /// <summary>Test-time augmentation: average features over the 8 rotations/flips for valid, test and the saved model (8x slower there).</summary>
    public bool Tta { get; set; } = true;
    /// <summary>With Tta, also average the 8 views for the train features (8x slower train featurization).</summary>
    public bool TtaTrain { get; set; }
    /// <summary>Featurizer precision: "int8" (default: static QDQ quantisation of the backbone, calibrated on train rows; ~3x faster on CPUs with VNNI, as accurate on the sample) or "fp32".</summary>
    public string Precision { get; set; } = "int8";

    /// <summary><see cref="Precision"/> parsed (the loader has checked it).</summary>
    [JsonIgnore]
    public Featurization.FeaturizerPrecision PrecisionKind => Featurization.FeaturizerPrecisions.Parse(Precision);
    /// <summary>With int8: seeded class-balanced train rows the activation ranges are measured on.</summary>
    public int CalibrationRows { get; set; } = 512;
    /// <summary>With int8: how ranges are read from the calibration rows: MinMax (default, lower valid NLL on the sample) or Percentile (clips the 0.001% tails).</summary>
    public Featurization.Passes.CalibrationMethod CalibrationMethod { get; set; } = Featurization.Passes.CalibrationMethod.MinMax;
    /// <summary>Also pool the centre of each feature map (PCam's label depends only on the centre 32x32 px).</summary>
    public bool CenterPool { get; set; }
    /// <summary>Append RGB mean/std of the whole patch and of its centre 32x32 (12 colour/stain features).</summary>
    public bool ColorStats { get; set; }
    /// <summary>Head: LbfgsLogisticRegression, LightGbm, FastTree or SdcaLogisticRegression (<see cref="HeadTrainerKind"/>).</summary>
    public string Trainer { get; set; } = nameof(HeadTrainerKind.LbfgsLogisticRegression);

    /// <summary>
    /// <see cref="Trainer"/> parsed; the file keeps ML.NET's catalog names as strings and <see cref="PCamConfigLoader.Validate"/>
    /// has named a bad one by key before any code asks.
    /// </summary>
    [JsonIgnore]
    public HeadTrainerKind TrainerKind => HeadTrainers.Parse(Trainer);
    /// <summary>Rows per ONNX Runtime batch when computing features.</summary>
    public int BatchSize { get; set; } = 64;
    /// <summary>MLContext seed and sampling seed.</summary>
    public int Seed { get; set; } = 1;
    /// <summary>Where the model zip is written (metrics, report and configs go beside it).</summary>
    public string ModelPath { get; set; } = "models/pcam-resnet18.zip";
    public LinearHeadConfig Lbfgs { get; set; } = new();

    public Featurization.FeaturizerOptions ToFeaturizerOptions(bool? tta = null) =>
        new() { ImageSize = ImageSize, Tta = tta ?? Tta, CenterPool = CenterPool, ColorStats = ColorStats };

    public LinearHeadConfig Sdca { get; set; } = new() { L2Regularization = [1e-4, 1e-3, 1e-2] };
    /// <summary>How the head's hyper-parameters are searched (subsample, threads, tolerance).</summary>
    public HeadSelectionConfig HeadSelection { get; set; } = new();
    public TreeHeadConfig LightGbm { get; set; } = new();
    public TreeHeadConfig FastTree { get; set; } = new() { LearningRate = 0.1, NumberOfTrees = 300 };
}

/// <summary>The head trainers, by their ML.NET catalog names (the spelling of TrainingOption.Trainer and `--trainer`).</summary>
public enum HeadTrainerKind { LbfgsLogisticRegression, LightGbm, FastTree, SdcaLogisticRegression }

public static class HeadTrainers
{
    /// <summary>Every trainer name, in the order error messages list them.</summary>
    public static readonly string[] Names = Enum.GetNames<HeadTrainerKind>();

    public static bool TryParse(string? name, out HeadTrainerKind kind) =>
        Enum.TryParse(name, ignoreCase: false, out kind) && Enum.IsDefined(kind) && !int.TryParse(name, out _);

    public static HeadTrainerKind Parse(string name) =>
        TryParse(name, out var kind) ? kind : throw new PCamConfigException($"Unknown trainer '{name}' (one of {string.Join(", ", Names)}).");

    /// <summary>Linear heads see standardised features (the normaliser is the head's first step).</summary>
    public static bool IsLinear(this HeadTrainerKind kind) => kind is HeadTrainerKind.LbfgsLogisticRegression or HeadTrainerKind.SdcaLogisticRegression;
}

public sealed class LinearHeadConfig
{
    /// <summary>L2 strengths tried; the one with the lowest validation NLL is kept.</summary>
    public double[] L2Regularization { get; set; } = [10, 30, 100, 300, 1000];
    /// <summary>L1 strength.</summary>
    public double L1Regularization { get; set; }
}

public sealed class HeadSelectionConfig
{
    /// <summary>
    /// L-BFGS, LightGBM and FastTree candidates are compared on a seeded class-stratified subsample of this many train
    /// rows, then the winner is refitted once on all rows; 0 = every candidate on all rows. SDCA always uses all rows.
    /// </summary>
    public int SelectionRows { get; set; } = 65_536;
    /// <summary>
    /// Threads for the head trainers during selection and for a tree refit (the L-BFGS refit on all rows runs on one
    /// thread over one dense table); null = all cores. Results are deterministic for a given seed and thread count.
    /// </summary>
    public int? Threads { get; set; }
    /// <summary>L-BFGS stops when the mean relative improvement of its objective over 5 iterations is below this.</summary>
    public double LbfgsTolerance { get; set; } = 1e-7;
}

public sealed class TreeHeadConfig
{
    /// <summary>Leaf counts tried; the one with the lowest validation NLL is kept.</summary>
    public int[] NumberOfLeaves { get; set; } = [15, 31];
    public double LearningRate { get; set; } = 0.05;
    /// <summary>Upper bound on boosting rounds; training stops early on the validation split.</summary>
    public int NumberOfTrees { get; set; } = 600;
    public int MinimumExampleCountPerLeaf { get; set; } = 20;
}
