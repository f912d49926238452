using System.Diagnostics;
using System.Text;
using Xunit;

namespace PCam.MLNet.Tests.Data;

/// <summary>Runs a built .NET app (`dotnet APP.dll ARGS`) as its own process, as a user would, and captures its output.</summary>
internal static class ChildProcess
{
    /// <summary>The default limit on one child process.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(3);

    /// <summary>What sets `pcam heatmap`'s default shard; removed from every child's environment unless the test sets them.</summary>
    public static readonly string[] SchedulerVariables =
        ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_COUNT", "JOB_COMPLETION_INDEX"];

    /// <summary>The pcam CLI built beside the tests.</summary>
    public static string PcamDll => Path.Combine(AppContext.BaseDirectory, "pcam.dll");

    /// <summary>
    /// Runs <paramref name="dll"/> with <paramref name="args"/>; <paramref name="environment"/> sets variables (a null
    /// value removes one). The test fails if the process does not end within <paramref name="timeout"/> (3 minutes):
    /// the whole process tree is killed and the failure shows what the child printed.
    /// </summary>
    public static (int Code, string Out, string Err) Run(string dll, IEnumerable<string> args, string? workingDirectory = null,
        IReadOnlyDictionary<string, string?>? environment = null, TimeSpan? timeout = null) =>
        RunProgram("dotnet", [dll, .. args], workingDirectory, environment, timeout);

    /// <summary>As <see cref="Run"/>, for any program on PATH (or a full path) instead of a .NET app.</summary>
    public static (int Code, string Out, string Err) RunProgram(string program, IEnumerable<string> args, string? workingDirectory = null,
        IReadOnlyDictionary<string, string?>? environment = null, TimeSpan? timeout = null, Func<bool>? clockStartsWhen = null)
    {
        var r = Start(program, args, workingDirectory, environment, timeout, clockStartsWhen);
        if (r.TimedOut)
            Assert.Fail($"{r.CommandLine} did not finish within {r.Timeout.TotalSeconds:F0} s; its process tree (pid {r.ProcessId}) was killed.\n" +
                        $"--- stdout ---\n{r.Out}\n--- stderr ---\n{r.Err}");
        return (r.Code, r.Out, r.Err);
    }

    /// <summary>What a child did: its exit code (-1 when killed), its output, and whether it ran past its timeout.</summary>
    public sealed record Outcome(string CommandLine, int ProcessId, int Code, string Out, string Err, bool TimedOut, TimeSpan Timeout);

    /// <summary>
    /// Runs <paramref name="program"/> to its end or to <paramref name="timeout"/>, reading stdout and stderr as they come.
    /// On timeout the whole process tree is killed and the outcome keeps what the child printed until then. Never fails the
    /// test itself. With <paramref name="clockStartsWhen"/>, the timeout counts from when that condition first holds (or the
    /// child ends), so a test of the timeout itself does not depend on how fast a loaded machine starts the child.
    /// </summary>
    public static Outcome Start(string program, IEnumerable<string> args, string? workingDirectory = null,
        IReadOnlyDictionary<string, string?>? environment = null, TimeSpan? timeout = null, Func<bool>? clockStartsWhen = null)
    {
        var limit = timeout ?? DefaultTimeout;
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        foreach (var a in args) psi.ArgumentList.Add(a);
        // A test run inside a Slurm array or a Kubernetes indexed job (as CI on a cluster is) must not shard the children it
        // starts: they get the scheduler's variables only when the test sets them.
        foreach (var name in SchedulerVariables) psi.Environment.Remove(name);
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
            if (value is null) psi.Environment.Remove(name); else psi.Environment[name] = value;
        var commandLine = $"{Path.GetFileName(program)} {string.Join(' ', psi.ArgumentList)}";

        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var p = Process.Start(psi)!;
        // Both pipes are read as the child writes (a child that fills one pipe while the other is read cannot block).
        var done = Task.WhenAll(p.WaitForExitAsync(), Pump(p.StandardOutput, stdout), Pump(p.StandardError, stderr));
        if (clockStartsWhen is not null) SpinWait.SpinUntil(() => done.IsCompleted || clockStartsWhen(), DefaultTimeout);
        bool timedOut = !done.Wait(limit);
        if (timedOut)
        {
            try { p.Kill(entireProcessTree: true); }
            catch (InvalidOperationException) { } // it ended between the timeout and the kill
            // The pipes close once every process holding them is dead: a bounded wait, then whatever was read.
            done.Wait(TimeSpan.FromSeconds(10));
        }
        string Text(StringBuilder sb) { lock (sb) return sb.ToString(); }
        return new Outcome(commandLine, p.Id, p.HasExited && !timedOut ? p.ExitCode : -1, Text(stdout), Text(stderr), timedOut, limit);
    }

    private static Task Pump(StreamReader reader, StringBuilder into) => Task.Run(async () =>
    {
        var buffer = new char[4096];
        int n;
        while ((n = await reader.ReadAsync(buffer)) > 0)
            lock (into) into.Append(buffer, 0, n);
    });
}
