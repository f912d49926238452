using System.Globalization;
using PCam.ModelBuilderApp;

// Usage: PCam.ModelBuilderApp IMAGE...   (run where MLModel1.mlnet is, as Model Builder's generated code expects)
// Prints path,score_0,score_1,predicted_label per image; Score is in the key order of Label ("0" normal, "1" tumour).
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: PCam.ModelBuilderApp IMAGE...   (in the folder that holds MLModel1.mlnet)");
    return 2;
}
if (!File.Exists("MLModel1.mlnet"))
{
    Console.Error.WriteLine($"error: {Path.GetFullPath("MLModel1.mlnet")}: model file not found (run `pcam export --format modelbuilder` and run this app in its output folder).");
    return 1;
}
Console.WriteLine("path,score_0,score_1,predicted_label");
// The engine owns the model: disposing it deletes the ONNX graph ML.NET unpacked into the temp folder at load
// (Model Builder's generated class keeps the engine for the life of the process and never disposes it).
using var release = new EngineRelease();
foreach (var path in args)
{
    MLModel1.ModelOutput result;
    try
    {
        result = MLModel1.Predict(new MLModel1.ModelInput { ImageSource = File.ReadAllBytes(path) });
    }
    catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException)
    {
        Console.Error.WriteLine($"error: {path}: {e.Message}");
        return 1;
    }
    var s = result.Score;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{path},{s[0]:R},{s[1]:R},{result.PredictedLabel}"));
}
return 0;

sealed class EngineRelease : IDisposable
{
    public void Dispose()
    {
        if (MLModel1.PredictEngine.IsValueCreated) MLModel1.PredictEngine.Value.Dispose();
    }
}
