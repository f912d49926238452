using Microsoft.ML;

namespace PCam.MLNet.Vision;

/// <summary>
/// <c>mlContext.MulticlassClassification.Trainers.ImageClassification(...)</c>: ML.NET's two overloads, so code written
/// for Microsoft.ML.Vision compiles with <c>using PCam.MLNet.Vision;</c> in place of <c>using Microsoft.ML.Vision;</c>.
/// </summary>
public static class VisionCatalog
{
    /// <summary>Transfer learning on images: a pretrained backbone's bottleneck features and a trained softmax layer.</summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="options">Every setting (see <see cref="ImageClassificationTrainer.Options"/>).</param>
    public static ImageClassificationTrainer ImageClassification(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        ImageClassificationTrainer.Options options)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new ImageClassificationTrainer(options);
    }

    /// <summary>Transfer learning on images with the default options and these column names.</summary>
    /// <param name="catalog">The multiclass trainers catalog.</param>
    /// <param name="labelColumnName">The label: a key column (MapValueToKey).</param>
    /// <param name="featureColumnName">The encoded image bytes (LoadRawImageBytes, or a byte[] field).</param>
    /// <param name="scoreColumnName">Output: the class probabilities, in key order.</param>
    /// <param name="predictedLabelColumnName">Output: the predicted key.</param>
    /// <param name="validationSet">Rows for per-epoch validation and early stopping (null: a fraction of the train rows).</param>
    public static ImageClassificationTrainer ImageClassification(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = "Label", string featureColumnName = "Features", string scoreColumnName = "Score",
        string predictedLabelColumnName = "PredictedLabel", IDataView? validationSet = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new ImageClassificationTrainer(new ImageClassificationTrainer.Options
        {
            LabelColumnName = labelColumnName,
            FeatureColumnName = featureColumnName,
            ScoreColumnName = scoreColumnName,
            PredictedLabelColumnName = predictedLabelColumnName,
            ValidationSet = validationSet,
        });
    }
}
