using System.Diagnostics;

namespace PCam.MLNet.Tests.Robustness
{
    /// <summary>
    /// Kills a child `pcam` process at a named stage (as `kill -9` does: no finally blocks, no flushing). The shipped
    /// library reads no variable for this: the test starts the child with DOTNET_STARTUP_HOOKS naming this test assembly,
    /// whose <see cref="StartupHook"/> installs the library's internal <see cref="TestHooks"/> callback before Main.
    /// </summary>
    internal static class KillAt
    {
        public const string Variable = "PCAM_TEST_KILL_AT";

        /// <summary>The child's environment: killed at <paramref name="stage"/> (null: a plain run, no hook).</summary>
        public static Dictionary<string, string?> Environment(string? stage) => stage is null
            ? new() { [Variable] = null, ["DOTNET_STARTUP_HOOKS"] = null }
            : new() { [Variable] = stage, ["DOTNET_STARTUP_HOOKS"] = typeof(KillAt).Assembly.Location };

        internal static void Install(string stage) =>
            TestHooks.Process = reached => { if (reached == stage) Process.GetCurrentProcess().Kill(); };
    }
}

/// <summary>The .NET startup hook (a type of this name in no namespace) that <see cref="PCam.MLNet.Tests.Robustness.KillAt"/> injects.</summary>
internal static class StartupHook
{
    public static void Initialize()
    {
        if (Environment.GetEnvironmentVariable(PCam.MLNet.Tests.Robustness.KillAt.Variable) is { Length: > 0 } stage)
            PCam.MLNet.Tests.Robustness.KillAt.Install(stage);
    }
}
