using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Robustness;
using PCam.MLNet.Training;
using Xunit;

namespace PCam.MLNet.Tests.Training;

/// <summary>Issue 19, item 2: `pcam train` reloads the zip it wrote and proves it on raw patches before naming it.</summary>
[Collection(TinyModelCollection.Name)]
public sealed class ZipSelfCheckTests(TinyModelFixture f) : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    (int Code, string Out, string Err) Train(string model, string? mismatch) =>
        ChildProcess.Run(ChildProcess.PcamDll, ["train", "--config", f.ConfigPath, "--model", model, "--cache-dir", f.CacheDir],
            environment: new Dictionary<string, string?> { [ZipSelfCheck.FaultVariable] = mismatch });

    [Fact]
    public void TrainReportsTheSelfCheckAndLeavesOnlyTheProvedZip()
    {
        var model = _dir["models/ok.zip"];
        var (code, _, err) = Train(model, null);
        Assert.True(code == 0, err);
        Assert.Contains($"Self-check: the written zip, reloaded, scores {ZipSelfCheck.Rows} raw test patches with the trainer's probabilities", err);
        Assert.True(File.Exists(model));
        Assert.Equal(["ok.zip"], Directory.GetFiles(_dir["models"], "*ok.zip*").Select(Path.GetFileName));
    }

    [Fact]
    public void AMismatchFailsTheRunWithOneErrorAndNoZip()
    {
        var model = _dir["models/bad.zip"];
        var (code, stdout, err) = Train(model, "1");
        Assert.Equal(1, code);
        var errors = err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
        var error = Assert.Single(errors);
        Assert.Contains($"{model}: self-check failed: the written zip, reloaded and run on raw test patch", error);
        Assert.Contains("no model was written", error);
        Assert.DoesNotContain("   at ", err); // no stack trace
        Assert.DoesNotContain("| Name |", stdout); // no metrics reported for a zip that was not written
        Assert.Empty(Directory.Exists(_dir["models"]) ? Directory.GetFiles(_dir["models"]) : []); // no zip, no staged or temp file
    }
}
