using Xunit;
using Xunit.Sdk;

namespace PCam.MLNet.Tests.Data;

/// <summary>The child-process runner every app-as-a-process test uses: it cannot hang the run and it shows what a child printed.</summary>
public sealed class ChildProcessTests
{
    [SkippableFact]
    public void AHungChildIsKilledWithItsWholeProcessTreeAndTheFailureShowsWhatItPrinted()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "The child is a bash script and the killed processes are looked up in /proc.");
        using var dir = new TempDir();
        var pidFile = dir["grandchild.pid"];
        // Prints to both pipes, starts a grandchild that holds both pipes open, records its pid, then waits for it.
        var script = $"echo started; echo 'warming up' >&2; sleep 600 & echo $! > '{pidFile}'; wait";

        // The timeout counts from when the script has printed and started its grandchild (its pid is in the file), not from
        // the start: a loaded machine may take seconds to start bash.
        Func<bool> Ready() { File.Delete(pidFile); return () => File.Exists(pidFile) && File.ReadAllText(pidFile).EndsWith('\n'); }
        var failure = Assert.ThrowsAny<XunitException>(() => ChildProcess.RunProgram("bash", ["-c", script], timeout: TimeSpan.FromSeconds(1), clockStartsWhen: Ready()));
        Assert.Contains("did not finish within 1 s", failure.Message);
        Assert.Contains("started", failure.Message);
        Assert.Contains("warming up", failure.Message);

        var outcome = ChildProcess.Start("bash", ["-c", script], timeout: TimeSpan.FromSeconds(1), clockStartsWhen: Ready());
        Assert.True(outcome.TimedOut);
        Assert.Equal(-1, outcome.Code);
        Assert.Equal("started\n", outcome.Out);
        Assert.Equal("warming up\n", outcome.Err);
        var grandchild = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        // SIGKILL is delivered asynchronously: wait (bounded) for the processes to go, rather than look once.
        Assert.True(SpinWait.SpinUntil(() => IsGone(outcome.ProcessId), TimeSpan.FromSeconds(30)), $"the child {outcome.ProcessId} still runs");
        Assert.True(SpinWait.SpinUntil(() => IsGone(grandchild), TimeSpan.FromSeconds(30)), $"the grandchild {grandchild} (sleep) still runs: the process tree was not killed");
    }

    [SkippableFact]
    public void BothPipesAreReadWhileTheChildWritesAndTheExitCodeIsKept()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "The child is a bash script.");
        // Far more than a pipe's buffer (64 KiB) on each, stderr first: a runner reading one pipe to its end first would block.
        var (code, stdout, stderr) = ChildProcess.RunProgram("bash",
            ["-c", "head -c 300000 /dev/zero | tr '\\0' e >&2; head -c 200000 /dev/zero | tr '\\0' o; exit 3"]);
        Assert.Equal(3, code);
        Assert.Equal(new string('o', 200000), stdout);
        Assert.Equal(new string('e', 300000), stderr);
    }

    /// <summary>Not in /proc, or a zombie (dead, waiting to be reaped by a parent that may be no init at all in a container).</summary>
    static bool IsGone(int pid)
    {
        var stat = $"/proc/{pid}/stat";
        try
        {
            if (!File.Exists(stat)) return true;
            var text = File.ReadAllText(stat);
            return text[(text.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException) { return true; } // vanished while being read
    }
}
