using System.Globalization;
using PCam.ModelBuilderApp;

// Usage: PCam.ModelBuilderApp IMAGE...   (run where MLModel1.mlnet is, as Model Builder's generated code expects)
// Prints path,score_0,score_1,predicted_label per image; Score is in the key order of Label ("0" normal, "1" tumour).
// Every failure is one `error:` line and exit code 1; --verbose adds the exception's details.
var verbose = args.Contains("--verbose");
args = args.Where(a => a != "--verbose").ToArray();
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
// The engine owns the model: disposing it deletes the ONNX graph ML.NET unpacked into the temp folder at load
// (Model Builder's generated class keeps the engine for the life of the process and never disposes it).
using var release = new EngineRelease();
try
{
    // Created here, not lazily on the first image, so that a model that does not load is named as the model.
    _ = MLModel1.PredictEngine.Value;
}
catch (Exception e) when (e is not OutOfMemoryException)
{
    // ML.NET reports a foreign, damaged or mismatched model with many exception types; the user needs one line.
    var inner = Innermost(e);
    return Fail($"{Path.GetFullPath("MLModel1.mlnet")}: the model cannot be loaded ({inner.GetType().Name}: {FirstLine(inner.Message)}).", e);
}
Console.WriteLine("path,score_0,score_1,predicted_label");
foreach (var path in args)
{
    MLModel1.ModelOutput result;
    try
    {
        result = MLModel1.Predict(new MLModel1.ModelInput { ImageSource = File.ReadAllBytes(path) });
    }
    catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException)
    {
        return Fail($"{path}: {FirstLine(e.Message)}", e);
    }
    catch (Exception e) when (e is not OutOfMemoryException)
    {
        return Fail($"{path}: the model failed on this image ({Innermost(e).GetType().Name}: {FirstLine(Innermost(e).Message)}).", e);
    }
    var s = result.Score;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{path},{s[0]:R},{s[1]:R},{result.PredictedLabel}"));
}
return 0;

int Fail(string message, Exception e)
{
    Console.Error.WriteLine($"error: {message}");
    if (verbose) Console.Error.WriteLine(e);
    return 1;
}

static string FirstLine(string s) => s.Split('\n')[0].Trim();

// ML.NET loads a model's parts by reflection: the useful message is the innermost one.
static Exception Innermost(Exception e)
{
    while (e is System.Reflection.TargetInvocationException or TypeInitializationException && e.InnerException is { } inner) e = inner;
    return e;
}

sealed class EngineRelease : IDisposable
{
    public void Dispose()
    {
        if (MLModel1.PredictEngine.IsValueCreated) MLModel1.PredictEngine.Value.Dispose();
    }
}
