using Microsoft.ML;
using PCam.MLNet.Data;
using PCam.MLNet.Export;
using PCam.MLNet.Tests.Cli;
using PCam.MLNet.Tests.Data;
using PCam.MLNet.Tests.Training;
using PCam.MLNet.Training;
using Xunit;
using PCam.MLNet.Featurization;

namespace PCam.MLNet.Tests.Export;

/// <summary>The Model Builder flavour of the sample model, in-process: same probabilities as the zip, same contract.</summary>
[Collection(SampleModelCollection.Name)]
public class ModelBuilderModelTests(SampleModelFixture f)
{
    [SkippableFact]
    public void EncodedImageBytesGiveTheZipsCalibratedProbabilities()
    {
        Skip.If(f.Result is null, SharedSample.Missing);
        using var dir = new TempDir();
        var ml = new MLContext(seed: 1);
        var zip = PCamModel.Load(ml, f.ModelPath, out _);
        using var releaseZip = PCamModel.Owner(zip);
        ModelBuilderModel.Save(ml, ModelBuilderModel.Build(ml, zip), dir["m.mlnet"]);

        var fresh = new MLContext(seed: 2);
        var mb = fresh.Model.Load(dir["m.mlnet"], out var schema);
        using var releaseMb = PCamModel.Owner(mb);
        Assert.NotNull(schema.GetColumnOrNull("ImageSource"));
        var engine = fresh.Model.CreatePredictionEngine<ModelBuilderInput, ModelBuilderOutput>(mb);
        var zipEngine = ml.Model.CreatePredictionEngine<PatchInput, PatchPrediction>(zip);
        var test = f.Result!.TestData!;
        var buffer = new byte[PatchSchema.ImageBytes];
        for (var i = 0; i < 8; i++)
        {
            test.Source.ReadImages(i, 1, buffer);
            ConsumingAppTests.WritePng(buffer, dir["p.png"]);
            var o = engine.Predict(new ModelBuilderInput { ImageSource = File.ReadAllBytes(dir["p.png"]) });
            var p = zipEngine.Predict(new PatchInput { Image = buffer }).Probability;
            Assert.Equal(2, o.Score.Length);
            Assert.Equal(p, o.Score[1], 1e-4);
            Assert.Equal(1 - p, o.Score[0], 1e-4);
            Assert.Equal(p >= 0.5 ? "1" : "0", o.PredictedLabel);
        }
    }
}
