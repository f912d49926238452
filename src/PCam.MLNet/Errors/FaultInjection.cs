using System.Diagnostics;

namespace PCam.MLNet;

/// <summary>
/// Test-only fault injection for the interrupted-run tests: when the environment variable
/// <see cref="Variable"/> names a stage, the process kills itself with SIGKILL (as `kill -9` does: no finally blocks,
/// no flushing) on reaching that stage. Unset (always, outside those tests) it does nothing.
/// Stages: "features" (a split's feature file fully written to its temp name, before the rename), "head" (after the
/// first head-selection trial), "zip" (the model zip fully written to its temp name, before the rename),
/// "slide:ID" (`pcam heatmap`: slide ID's outputs fully written to its temp folder, before the rename).
/// </summary>
public static class FaultInjection
{
    public const string Variable = "PCAM_TEST_KILL_AT";

    public static void KillPoint(string stage)
    {
        if (Environment.GetEnvironmentVariable(Variable) == stage) Process.GetCurrentProcess().Kill();
    }
}
