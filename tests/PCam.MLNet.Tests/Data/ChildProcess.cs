using System.Diagnostics;
using Xunit;

namespace PCam.MLNet.Tests.Data;

/// <summary>Runs a built .NET app (`dotnet APP.dll ARGS`) as its own process, as a user would, and captures its output.</summary>
internal static class ChildProcess
{
    /// <summary>The pcam CLI built beside the tests.</summary>
    public static string PcamDll => Path.Combine(AppContext.BaseDirectory, "pcam.dll");

    /// <summary>
    /// Runs <paramref name="dll"/> with <paramref name="args"/>; <paramref name="environment"/> sets variables (a null
    /// value removes one). The test fails if the process does not end within <paramref name="timeout"/> (3 minutes).
    /// </summary>
    public static (int Code, string Out, string Err) Run(string dll, IEnumerable<string> args, string? workingDirectory = null,
        IReadOnlyDictionary<string, string?>? environment = null, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
            if (value is null) psi.Environment.Remove(name); else psi.Environment[name] = value;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(timeout ?? TimeSpan.FromMinutes(3)), $"{Path.GetFileName(dll)} {string.Join(' ', args)} did not finish");
        return (p.ExitCode, stdout.Result, stderr);
    }
}
