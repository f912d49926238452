// A consuming app: loads a PCam.MLNet model zip with plain ML.NET and classifies patch images.
// It references only ML.NET NuGet packages (and an image decoder), never a PCam.MLNet project.
using System.Globalization;
using Microsoft.ML;
using PCam.Predict;

if (args.Length < 2 || args[0] is "-h" or "--help")
{
    Console.Error.WriteLine("usage: PCam.Predict MODEL.zip IMAGE [IMAGE...]   (96x96 RGB PNG, JPEG or TIFF patches)");
    Console.Error.WriteLine("prints CSV: path,probability,predicted_label");
    return args.Length == 0 || args[0] is "-h" or "--help" ? 0 : 2;
}

var modelPath = args[0];
try
{
    var ml = new MLContext();
    ITransformer model;
    try
    {
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"{modelPath}: model file not found.");
        // A model whose backbone weights are ONNX external data is the zip plus the weight files beside it.
        if (SideFiles.Verify(modelPath)) ml.TempFilePath = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        model = ml.Model.Load(modelPath, out _);
    }
    catch (InvalidDataException e)
    {
        throw new InvalidDataException($"{modelPath}: not a model zip ({e.Message})", e);
    }
    // Disposing the model (ML.NET's chain disposes its transformers) frees its ONNX Runtime session and deletes the
    // graph file ML.NET unpacked into the temp folder.
    using var owner = (IDisposable)model;
    using var engine = ml.Model.CreatePredictionEngine<PatchInput, PatchPrediction>(model);

    Console.WriteLine("path,probability,predicted_label");
    foreach (var path in args.Skip(1))
    {
        var p = engine.Predict(new PatchInput { Image = PatchImage.Decode(path) });
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{path},{p.Probability:R},{(p.PredictedLabel ? 1 : 0)}"));
    }
    return 0;
}
catch (Exception e) when (e is IOException or InvalidDataException or FormatException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
