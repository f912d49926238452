using Microsoft.ML;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Training;
using Xunit;

namespace PCam.MLNet.Tests.Robustness;

/// <summary>
/// `pcam train` killed with SIGKILL (as by `kill -9`: no finally blocks run) at the worst moment of
/// each stage that writes, then run again. The kill comes from the process itself at a named point
/// (<see cref="KillAt"/>, a startup hook the test injects), so the test does not depend on timing.
/// </summary>
[Collection(TinyModelCollection.Name)]
public sealed class InterruptedRunTests(TinyModelFixture f) : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    (int Code, string Err) Train(string? killAt, int seed = 1)
    {
        var (code, _, err) = ChildProcess.Run(ChildProcess.PcamDll,
            ["train", "--config", f.ConfigPath, "--model", _dir["models/run.zip"], "--cache-dir", _dir["cache"], "--seed", seed.ToString()],
            environment: new Dictionary<string, string?>(KillAt.Environment(killAt))
            {
                // A killed run cannot delete what it had in the temp folder (the featurizer graph ML.NET reads while saving): keep it in ours.
                ["TMPDIR"] = Directory.CreateDirectory(_dir["tmp"]).FullName,
            });
        return (code, err);
    }

    string[] FinalFeatureFiles() => Directory.Exists(_dir["cache/features"]) ? Directory.GetFiles(_dir["cache/features"], "*.idv") : [];

    [Fact]
    public void KilledAtEachWritingStageTheRerunCompletesAndNothingPartialIsUsed()
    {
        var model = _dir["models/run.zip"];

        // 1. Killed with the first feature file complete under its temp name: no feature file, no model.
        var killed = Train("features");
        Assert.Equal(137, killed.Code); // 128 + SIGKILL
        Assert.Empty(FinalFeatureFiles());
        Assert.NotEmpty(Directory.GetFiles(_dir["cache/features"], "*.tmp")); // the orphan a kill leaves behind...
        Assert.False(File.Exists(model));

        // 2. Killed during head selection: the features are now complete (3 splits), still no model.
        killed = Train("head");
        Assert.Equal(137, killed.Code);
        Assert.Equal(3, FinalFeatureFiles().Length); // ...is never read: the rerun computed train again
        Assert.False(File.Exists(model));

        // 3. Killed with the zip complete under its temp name: no model under the final name.
        killed = Train("zip");
        Assert.Equal(137, killed.Code);
        Assert.Contains("reused from the cache", killed.Err);
        Assert.False(File.Exists(model));

        // 4. The rerun completes and its model loads.
        var ok = Train(null);
        Assert.True(ok.Code == 0, ok.Err);
        PCamModel.Owner(PCamModel.Load(new MLContext(1), model, out _)).Dispose();
        var good = File.ReadAllBytes(model);

        // 5. A later run killed while writing its zip leaves the earlier model whole.
        killed = Train("zip", seed: 2);
        Assert.Equal(137, killed.Code);
        Assert.Equal(good, File.ReadAllBytes(model));
        PCamModel.Owner(PCamModel.Load(new MLContext(1), model, out _)).Dispose();
    }
}
