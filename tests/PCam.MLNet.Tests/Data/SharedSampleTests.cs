using Xunit;

namespace PCam.MLNet.Tests.Data;

/// <summary>The one decision on ../shared/pcam-sample: present, run; absent on a user's clone, skip with the reason; absent in CI, fail.</summary>
public sealed class SharedSampleTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("false")]
    [InlineData("0")]
    public void AMissingSampleOutsideCiSkipsWithTheReason(string? ci)
    {
        Assert.False(SharedSample.IsCi(ci));
        Assert.Null(SharedSample.Resolve(null, ci));
        Assert.Contains("../shared/pcam-sample not found", SharedSample.Missing);
    }

    [Theory]
    [InlineData("true")]
    [InlineData("TRUE")]
    [InlineData("1")]
    public void AMissingSampleInCiFailsInsteadOfSkipping(string ci)
    {
        Assert.True(SharedSample.IsCi(ci));
        var e = Assert.Throws<SharedSampleMissingException>(() => SharedSample.Resolve(null, ci));
        Assert.Contains("../shared/pcam-sample not found", e.Message);
        Assert.Contains("CI=", e.Message);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("true")]
    public void APresentSampleRunsEverywhere(string? ci) => Assert.Equal("/data/shared/pcam-sample", SharedSample.Resolve("/data/shared/pcam-sample", ci));
}
