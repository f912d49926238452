using Microsoft.ML;

// Loads the zip ImageClassification.Train saved and scores images held in memory, as ML.NET's sample's Predict project
// does. It references the PCam.MLNet package (as an ML.NET image-classification app references Microsoft.ML.Vision) and
// registers nothing: the zip names the assembly that decodes its images.
if (args.Length < 2) { Console.Error.WriteLine("usage: ImageClassification.Predict <model.zip> <image>..."); return 2; }
var mlContext = new MLContext(seed: 1);
ITransformer loadedModel = mlContext.Model.Load(args[0], out _);
var predictionEngine = mlContext.Model.CreatePredictionEngine<InMemoryImageData, ImagePrediction>(loadedModel);
foreach (var path in args.Skip(1))
{
    var image = new InMemoryImageData(File.ReadAllBytes(path), Label: "", ImageFileName: Path.GetFileName(path));
    var prediction = predictionEngine.Predict(image);
    Console.WriteLine($"Image: {image.ImageFileName} predicted as: {prediction.PredictedLabel} with score: {prediction.Score.Max():F4} " +
                      $"(scores: {string.Join(" ", prediction.Score.Select(s => s.ToString("F6")))})");
}
return 0;

public record InMemoryImageData(byte[] Image, string Label, string ImageFileName);

public class ImagePrediction
{
    public float[] Score { get; set; } = [];
    public string PredictedLabel { get; set; } = "";
}
