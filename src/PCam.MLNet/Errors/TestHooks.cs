namespace PCam.MLNet;

/// <summary>
/// A seam for the interrupted-run tests, internal to the library (the test assembly sees it through InternalsVisibleTo):
/// writers call <see cref="Reached"/> at named stages, and nothing happens unless a test installed a callback. The
/// library reads no environment variable for this; a test that needs a child process killed at a stage injects the
/// callback with a .NET startup hook (tests/.../Robustness/KillAtStartupHook.cs).
/// Stages: "features" (a split's feature file fully written to its temp name, before the rename), "head" (after the
/// first head-selection trial), "zip" (the model zip fully written to its temp name, before the rename),
/// "slide:ID" (`pcam heatmap`: slide ID's outputs fully written to its temp folder, before the rename), "onnx-export" (`pcam export --format onnx`: the
/// staged files checked, before the moves into the output folder).
/// </summary>
internal static class TestHooks
{
    /// <summary>For the whole process (a startup hook in a child process sets it).</summary>
    internal static Action<string>? Process;

    /// <summary>For the calling flow only (an in-process test sets it without touching tests that run beside it).</summary>
    internal static readonly AsyncLocal<Action<string>?> Flow = new();

    internal static void Reached(string stage)
    {
        Flow.Value?.Invoke(stage);
        Process?.Invoke(stage);
    }
}
