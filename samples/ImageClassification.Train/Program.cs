using Microsoft.ML;
using Microsoft.ML.Data;
using PCam.MLNet.Vision;
using static Microsoft.ML.DataOperationsCatalog;

// A folder of <label>/<image> files (any size; PNG, JPEG, BMP, GIF, WebP or TIFF) and where to save the model.
var imagesFolder = args.Length > 0 ? args[0] : throw new ArgumentException("usage: ImageClassification.Train <images folder> [model.zip]");
var modelPath = args.Length > 1 ? args[1] : "imageClassifier.zip";

var mlContext = new MLContext(seed: 1);
IEnumerable<ImageData> images = LoadImagesFromDirectory(imagesFolder);
IDataView fullImagesDataset = mlContext.Data.LoadFromEnumerable(images);
IDataView shuffledFullImageFilePathsDataset = mlContext.Data.ShuffleRows(fullImagesDataset);

IDataView shuffledFullImagesDataset = mlContext.Transforms.Conversion
    .MapValueToKey(outputColumnName: "LabelAsKey", inputColumnName: "Label", keyOrdinality: Microsoft.ML.Transforms.ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
    .Append(mlContext.Transforms.LoadRawImageBytes(outputColumnName: "Image", imageFolder: imagesFolder, inputColumnName: "ImagePath"))
    .Fit(shuffledFullImageFilePathsDataset)
    .Transform(shuffledFullImageFilePathsDataset);

TrainTestData trainTestData = mlContext.Data.TrainTestSplit(shuffledFullImagesDataset, testFraction: 0.3, seed: 1);
IDataView trainDataView = trainTestData.TrainSet;
IDataView testDataView = trainTestData.TestSet;

var options = new ImageClassificationTrainer.Options()
{
    FeatureColumnName = "Image",
    LabelColumnName = "LabelAsKey",
    Arch = ImageClassificationTrainer.Architecture.ResNet18,   // ML.NET's default, ResnetV250, is TensorFlow's: not available here
    Epoch = 50,
    BatchSize = 10,
    LearningRate = 0.01f,
    MetricsCallback = (metrics) => { if (metrics.Train is not null) Console.WriteLine(metrics); },
    ValidationSet = testDataView,
};

var pipeline = mlContext.MulticlassClassification.Trainers.ImageClassification(options)
    .Append(mlContext.Transforms.Conversion.MapKeyToValue(outputColumnName: "PredictedLabel", inputColumnName: "PredictedLabel"));

Console.WriteLine("*** Training the image classification model with transfer learning ***");
var watch = System.Diagnostics.Stopwatch.StartNew();
ITransformer trainedModel = pipeline.Fit(trainDataView);
Console.WriteLine($"Training took {watch.Elapsed.TotalSeconds:F1} s");

var predictionsDataView = trainedModel.Transform(testDataView);
var metrics = mlContext.MulticlassClassification.Evaluate(predictionsDataView, labelColumnName: "LabelAsKey", predictedLabelColumnName: "PredictedLabel");
Console.WriteLine($"Test: micro accuracy {metrics.MicroAccuracy:P1}, macro accuracy {metrics.MacroAccuracy:P1}");

mlContext.Model.Save(trainedModel, trainDataView.Schema, modelPath);
Console.WriteLine($"Model saved to: {Path.GetFullPath(modelPath)}");

static IEnumerable<ImageData> LoadImagesFromDirectory(string folder) =>
    Directory.GetFiles(folder, "*", SearchOption.AllDirectories)
        .Where(f => Path.GetExtension(f).ToLowerInvariant() is ".jpg" or ".jpeg" or ".png" or ".bmp" or ".tif" or ".tiff")
        .Order(StringComparer.Ordinal)
        .Select(f => new ImageData { ImagePath = f, Label = Directory.GetParent(f)!.Name });

public class ImageData
{
    public string ImagePath { get; set; } = "";
    public string Label { get; set; } = "";
}
