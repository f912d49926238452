using Microsoft.ML;
using PCam.MLNet.Data;

namespace PCam.MLNet;

/// <summary>
/// PCam's extensions of <see cref="MLContext"/>'s catalogs:
/// <c>mlContext.Data.LoadFromPCam(dir, split)</c> and <c>mlContext.Transforms.FeaturizePatches(options)</c>.
/// </summary>
/// <example>
/// <code>
/// var ml = new MLContext(seed: 1);
/// var train = ml.Data.LoadFromPCam("data/pcam", PCamSplit.Train);
/// var pipeline = ml.Transforms.FeaturizePatches(new PatchFeaturizerOptions { ImageSize = 96 })
///     .AppendCacheCheckpoint(ml) // the trainer's passes reuse the features instead of running the backbone again
///     .Append(ml.BinaryClassification.Trainers.LbfgsLogisticRegression(featureColumnName: "Features"));
/// var model = pipeline.Fit(train);
/// </code>
/// </example>
public static class PCamCatalog
{
    /// <summary>
    /// Loads one split of PCam as a lazy <see cref="IDataView"/> with columns <c>Image</c> (96x96x3 RGB bytes, HWC),
    /// <c>Label</c> (bool, true = tumour in the centre 32x32) and <c>Index</c> (row number in the split).
    /// </summary>
    /// <param name="catalog">The data catalog (<c>mlContext.Data</c>).</param>
    /// <param name="directory">A folder holding the official HDF5 files (<c>camelyonpatch_level_2_split_{split}_{x,y}.h5</c> or
    /// <c>.h5.gz</c>), image folders (<c>{split}/{0,1}/*.png|jpg|tif</c>), or the Kaggle layout (<c>train/*.tif</c> +
    /// <c>train_labels.csv</c>; train split only).</param>
    /// <param name="split">Which split to load. Default <see cref="PCamSplit.Train"/>.</param>
    /// <param name="options">Decompression cache folder, checksum verification and progress; null = defaults.</param>
    /// <returns>The split's rows; dispose it (it is <see cref="IDisposable"/>) to close the files.</returns>
    /// <exception cref="PCamDataException">The folder, a file or the split is missing or damaged (the message names it).</exception>
    public static IDataView LoadFromPCam(this DataOperationsCatalog catalog, string directory, PCamSplit split = PCamSplit.Train,
        PCamDataOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        return PCamData.Open(directory, split, options);
    }

    /// <summary>
    /// An estimator that turns the <c>Image</c> column into a <c>Features</c> float vector with a frozen pretrained backbone
    /// on ONNX Runtime. <c>Fit</c> composes the featurizer graph and, for int8, calibrates it on the data it is fitted on;
    /// the fitted transform featurizes lazily, in batches, as its output is read. Append <c>AppendCacheCheckpoint</c> and
    /// any ML.NET binary trainer with <c>featureColumnName: "Features"</c>. A saved model needs only ML.NET's packages.
    /// </summary>
    /// <param name="catalog">The transforms catalog (<c>mlContext.Transforms</c>).</param>
    /// <param name="options">Backbone, image size, TTA, pooling, precision, cache folder; null = the defaults of <see cref="PatchFeaturizerOptions"/>.</param>
    public static PatchFeaturizerEstimator FeaturizePatches(this TransformsCatalog catalog, PatchFeaturizerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new PatchFeaturizerEstimator(catalog, options ?? new PatchFeaturizerOptions());
    }
}
