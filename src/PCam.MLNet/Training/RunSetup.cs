using Microsoft.ML;
using PCam.MLNet.Configuration;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;

namespace PCam.MLNet.Training;

/// <summary>
/// The setup a training run shares with the benchmarks that follow its protocol (the TTA ablation): the cache folder,
/// how the splits are opened, the train rows the head sees and where features are cached. One definition, so a
/// benchmark measures what `pcam train` does and reuses its cached train features.
/// </summary>
public static class RunSetup
{
    /// <summary>DataSource.CacheDirectory, else <see cref="PCamDataOptions.DefaultCacheFolder"/> in the working directory.</summary>
    public static string CacheDirectory(PCamConfig config) => config.DataSource.CacheDirectory ?? PCamDataOptions.DefaultCacheFolder;

    /// <summary>How a run opens its splits: .h5.gz decompressed under CACHE/h5, checksums as DataSource.VerifyChecksums says.</summary>
    public static PCamDataOptions DataOptions(PCamConfig config, string cacheDir, ITrainingLog log,
        IProgress<(string Stage, long Done, long Total)>? progress = null) => new()
    {
        CacheDirectory = Path.Combine(cacheDir, "h5"), Progress = progress, Warning = log.Warning,
        VerifyChecksums = config.DataSource.VerifyChecksums,
    };

    /// <summary>The train rows the head sees: all, or a seeded class-balanced sample of DataSource.MaxTrainRows.</summary>
    public static PatchDataView LimitTrainRows(PCamConfig config, PatchDataView train) =>
        config.DataSource.MaxTrainRows is { } max && max < train.GetRowCount() ? train.SampleBalanced(max, config.TrainingOption.Seed) : train;

    /// <summary>The feature cache of a run (CACHE/features), keyed by the graph's fingerprint and the rows.</summary>
    public static FeatureCache FeatureCache(MLContext ml, string cacheDir) => new(ml, Path.Combine(cacheDir, "features"));
}
