using PCam.Benchmarks;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Tests.Featurization;
using PCam.MLNet.Training;
using Xunit;

namespace PCam.MLNet.Tests.Training;

public class TtaAblationTests
{
    /// <summary>The ablation averages per-view features computed on views it makes itself: the 8-view graph must agree.</summary>
    [Fact]
    public void AveragingTheAblationsViewsEqualsTheTtaGraph()
    {
        const int n = 2;
        var images = Patches.Random(n, seed: 11);
        var single = FeaturizerGraph.Build(BackboneConfig.ResNet18(), new FeaturizerOptions { ImageSize = 96, Tta = false });
        var tta = FeaturizerGraph.Build(BackboneConfig.ResNet18(), new FeaturizerOptions { ImageSize = 96, Tta = true });
        using var one = new BatchFeaturizer(single, ExecutionDevice.Cpu, threads: 2);
        using var eight = new BatchFeaturizer(tta, ExecutionDevice.Cpu, threads: 2);
        int d = one.FeatureDimension;
        var expected = eight.Featurize(images, n);
        var sum = new double[n * d];
        var view = new byte[images.Length];
        var distinct = new HashSet<string>();
        for (int v = 0; v < 8; v++)
        {
            for (int r = 0; r < n; r++)
                TtaAblation.Dihedral(images.AsSpan(r * PatchSchema.ImageBytes, PatchSchema.ImageBytes), view.AsSpan(r * PatchSchema.ImageBytes, PatchSchema.ImageBytes), v);
            distinct.Add(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(view)));
            var f = one.Featurize(view, n);
            for (int k = 0; k < f.Length; k++) sum[k] += f[k];
        }
        Assert.Equal(8, distinct.Count); // eight different views of these asymmetric patches
        for (int k = 0; k < sum.Length; k++)
            Assert.True(Math.Abs(sum[k] / 8 - expected[k]) <= 1e-3 * Math.Max(1, Math.Abs(expected[k])), $"feature {k}: {sum[k] / 8} vs {expected[k]}");
        Assert.Equal([1, 2, 4, 8], TtaAblation.Subsets.Select(s => s.Views));
        Assert.All(TtaAblation.Subsets, s => Assert.Equal(s.Views, s.Indices.Distinct().Count()));
    }

    [Fact]
    public void TheFourViewSubsetIsTheRotationGroup()
    {
        var img = Patches.Random(1, seed: 4);
        byte[] V(byte[] x, int v) { var o = new byte[x.Length]; TtaAblation.Dihedral(x, o, v); return o; }
        var rotations = TtaAblation.Subsets.Single(s => s.Views == 4).Indices;
        Assert.Equal([0, 3, 5, 6], rotations);
        Assert.Equal(img, V(img, 0));
        Assert.Equal(V(img, 3), V(V(img, 5), 5));           // 90 + 90 = 180
        Assert.Equal(V(img, 3), V(V(img, 6), 6));           // -90 - 90 = 180
        Assert.Equal(img, V(V(img, 5), 6));                 // 90 - 90 = 0
        Assert.Equal(img, V(V(img, 4), 4));                 // the transpose is an involution
        Assert.NotEqual(img, V(img, 5));
    }
}
