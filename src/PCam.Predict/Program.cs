// A consuming app: loads a PCam.MLNet model zip with plain ML.NET and classifies patch images.
// It references only ML.NET NuGet packages (and an image decoder), never a PCam.MLNet project.
// Every failure is one `error:` line naming the file and a non-zero exit; --verbose adds the exception's details.
using System.Globalization;
using Microsoft.ML;
using PCam.Predict;

var verbose = args.Contains("--verbose");
args = args.Where(a => a != "--verbose").ToArray();
if (args.Length < 2 || args[0] is "-h" or "--help")
{
    Console.Error.WriteLine("usage: PCam.Predict MODEL.zip IMAGE [IMAGE...] [--verbose]   (96x96 RGB PNG, JPEG or TIFF patches)");
    Console.Error.WriteLine("prints CSV: path,probability,predicted_label");
    return args.Length == 0 || args[0] is "-h" or "--help" ? 0 : 2;
}

var modelPath = args[0];
var ml = new MLContext();
ITransformer model;
try
{
    if (!File.Exists(modelPath)) return Fail($"{modelPath}: model file not found.", null);
    // A model whose backbone weights are ONNX external data is the zip plus the weight files beside it.
    if (SideFiles.Verify(modelPath)) ml.TempFilePath = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
    model = ml.Model.Load(modelPath, out _);
}
catch (InvalidDataException e) when (e.Message.StartsWith(modelPath, StringComparison.Ordinal))
{
    return Fail(e.Message, e); // SideFiles: a missing or altered external weight file, already named
}
catch (InvalidDataException e)
{
    return Fail($"{modelPath}: not a model zip ({FirstLine(e.Message)}).", e);
}
catch (Exception e) when (e is not OutOfMemoryException)
{
    // ML.NET's loader reports a foreign or damaged zip with many exception types; the user needs one line.
    return Fail($"{modelPath}: not a loadable ML.NET model ({Innermost(e).GetType().Name}: {FirstLine(Innermost(e).Message)}).", e);
}

// Disposing the model (ML.NET's chain disposes its transformers) frees its ONNX Runtime session and deletes the
// graph file ML.NET unpacked into the temp folder.
using var owner = model as IDisposable;
PredictionEngine<PatchInput, PatchPrediction> engine;
try
{
    engine = ml.Model.CreatePredictionEngine<PatchInput, PatchPrediction>(model);
}
catch (Exception e) when (e is not OutOfMemoryException)
{
    return Fail($"{modelPath}: the model loads but cannot classify 96x96x3 patches ({FirstLine(Innermost(e).Message)}); is it a `pcam train` model?", e);
}
using (engine)
{
    Console.WriteLine("path,probability,predicted_label");
    foreach (var path in args.Skip(1))
    {
        PatchPrediction p;
        try
        {
            p = engine.Predict(new PatchInput { Image = PatchImage.Decode(path) });
        }
        catch (Exception e) when (e is IOException or InvalidDataException or FormatException or UnauthorizedAccessException)
        {
            return Fail(e.Message.StartsWith(path, StringComparison.Ordinal) ? e.Message : $"{path}: {FirstLine(e.Message)}", e);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return Fail($"{path}: the model failed on this patch ({Innermost(e).GetType().Name}: {FirstLine(Innermost(e).Message)}).", e);
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{path},{p.Probability:R},{(p.PredictedLabel ? 1 : 0)}"));
    }
}
return 0;

int Fail(string message, Exception? e)
{
    Console.Error.WriteLine($"error: {message}");
    if (verbose && e is not null) Console.Error.WriteLine(e);
    return 1;
}

static string FirstLine(string s) => s.Split('\n')[0].Trim();

// ML.NET loads a model's parts by reflection: the useful message is the innermost one.
static Exception Innermost(Exception e)
{
    while (e is System.Reflection.TargetInvocationException or TypeInitializationException && e.InnerException is { } inner) e = inner;
    return e;
}
