using System.CommandLine;
using System.CommandLine.Parsing;
using PCam.MLNet.Configuration;
using PCam.MLNet.Featurization;

namespace PCam.Cli.Commands;

/// <summary>
/// Typed options checked while the command line is parsed: a bad value is one parse error naming the option, the value
/// and every accepted value, before any command body runs; a file or folder that does not exist is refused the same way.
/// </summary>
internal static class OptionKinds
{
    private delegate bool TryParse<T>(string text, out T value);

    /// <summary>--trainer: an ML.NET binary trainer for the head (<see cref="HeadTrainerKind"/>, the names of its catalog).</summary>
    public static Option<HeadTrainerKind?> Trainer(string description, string? configKey = "TrainingOption.Trainer") =>
        Typed<HeadTrainerKind>("--trainer", description, configKey, HeadTrainers.Names, HeadTrainers.TryParse);

    /// <summary>--precision: fp32 or int8.</summary>
    public static Option<FeaturizerPrecision?> Precision(string description, string? configKey = "TrainingOption.Precision") =>
        Typed<FeaturizerPrecision>("--precision", description, configKey, FeaturizerPrecisions.Names, FeaturizerPrecisions.TryParse);

    /// <summary>--device: cpu, cuda or cuda:N.</summary>
    public static Option<ExecutionDevice?> Device(string description, string? configKey = "Environment.Device") =>
        Typed<ExecutionDevice>("--device", description, configKey, ["cpu", "cuda", "cuda:N"], TryDevice);

    private static bool TryDevice(string text, out ExecutionDevice device)
    {
        try
        {
            device = ExecutionDevice.Parse(text);
            return true;
        }
        catch (ArgumentException)
        {
            device = default;
            return false;
        }
    }

    private static Option<T?> Typed<T>(string name, string description, string? configKey, string[] accepted, TryParse<T> tryParse) where T : struct
    {
        var option = new Option<T?>(name)
        {
            Description = description,
            HelpName = string.Join("|", accepted),
            CustomParser = result =>
            {
                var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
                if (tryParse(text, out var value)) return value;
                result.AddError($"{name} '{text}' is not accepted{(configKey is null ? "" : $" ({configKey})")}; use one of: {string.Join(", ", accepted)}.");
                return null;
            },
        };
        option.CompletionSources.Add(accepted.Where(a => !a.Contains(':')).ToArray());
        return option;
    }

    /// <summary>Refuses, at parse time, a value naming no existing file (<paramref name="what"/>: "model file", "CSV file", ...).</summary>
    public static Option<T> MustBeFile<T>(this Option<T> option, string what = "file")
    {
        option.Validators.Add(result => Check(result, result.GetValueOrDefault<T>() as string, what, File.Exists));
        return option;
    }

    /// <summary>Refuses, at parse time, a value naming no existing folder.</summary>
    public static Option<T> MustBeFolder<T>(this Option<T> option, string what = "folder")
    {
        option.Validators.Add(result => Check(result, result.GetValueOrDefault<T>() as string, what, Directory.Exists));
        return option;
    }

    /// <summary>Refuses, at parse time, an argument naming no existing file.</summary>
    public static Argument<T> MustBeFile<T>(this Argument<T> argument, string what = "file")
    {
        argument.Validators.Add(result => Check(result, result.GetValueOrDefault<T>() as string, what, File.Exists));
        return argument;
    }

    private const string NotFound = " not found.";

    private static void Check(SymbolResult result, string? path, string what, Func<string, bool> exists)
    {
        if (!string.IsNullOrEmpty(path) && !exists(path)) result.AddError($"{path}: {what}{NotFound}");
    }

    /// <summary>Whether a parse error is only a file or folder that does not exist here (documented examples name the user's paths).</summary>
    public static bool IsMissingPath(ParseError error) => error.Message.EndsWith(NotFound, StringComparison.Ordinal);
}
