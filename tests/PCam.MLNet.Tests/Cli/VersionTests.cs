using PCam.MLNet.Tests.Data;
using Xunit;

namespace PCam.MLNet.Tests.Cli;

/// <summary>`pcam --version` (what `dotnet tool install` users run first) prints the package version.</summary>
public class VersionTests
{
    [Fact]
    public void VersionPrintsThePackageVersion()
    {
        var (code, stdout, stderr) = ChildProcess.Run(ChildProcess.PcamDll, ["--version"]);
        Assert.True(code == 0, stderr);
        var expected = typeof(PCam.Cli.PcamApp).Assembly.GetName().Version!;
        Assert.StartsWith($"{expected.Major}.{expected.Minor}.{expected.Build}", stdout.Trim());
        Assert.Matches(@"^\d+\.\d+\.\d+", stdout.Trim());
    }
}
