using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Training;
using static PCam.MLNet.Featurization.GraphWriter;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PCam.MLNet.Export;

/// <summary>The ImageClassificationTrainer export: the zip's featurizer and softmax layer as one graph, its sidecar and self-check.</summary>
public static partial class OnnxExporter
{
    /// <summary>The output of an ImageClassificationTrainer export: softmax probabilities [N,K] in class_names order.</summary>
    public const string ScoresName = "scores";

    /// <summary>
    /// An ImageClassificationTrainer zip as one graph: uint8 [N,side,side,3] RGB "image" (decoded and stretched as
    /// <see cref="Vision.ImageDecoding"/> does; the graph cannot decode) -> the zip's featurizer graph -> "features"
    /// [N,D] -> the softmax layer (MatMul, Add, Softmax) -> "scores" [N,K].
    /// </summary>
    internal static ModelProto ImageClassifierGraph(ImageClassifierZip ict)
    {
        var model = ModelProto.Parser.ParseFrom(ict.FeaturizerGraphBytes);
        var g = model.Graph;
        int side = ict.ImageSide, dim = ict.FeatureDimension;
        VBuffer<float>[] weights = [];
        ict.Head.GetWeights(ref weights, out var k);
        var biases = ict.Head.GetBiases().ToArray();
        if (side <= 0 || dim <= 0 || k != ict.Classes.Count || weights.Length != k || weights.Any(w => w.Length != dim) || biases.Length != k)
            throw new PCamExportException($"{ict.Path}: the softmax layer ({weights.Length} x {(weights.Length > 0 ? weights[0].Length : 0)}) does not match " +
                                          $"{ict.Classes.Count} classes of {dim} features; nothing was written.");
        var transposed = new float[dim * k];
        for (var c = 0; c < k; c++)
        {
            var row = weights[c].DenseValues().ToArray();
            for (var j = 0; j < dim; j++) transposed[j * k + c] = row[j];
        }
        var w = new GraphWriter(g, "pcam_export_");
        w.NodeTo("Identity", [OnnxModelFile.InputName], FeaturizerGraph.InputName, before: true);
        w.FlushPreprocessing();
        w.NodeTo("Identity", [FeaturizerGraph.OutputName], OnnxModelFile.FeaturesName);
        var logits = w.Node("MatMul", [FeaturizerGraph.OutputName, w.Floats("weights", [dim, k], transposed)], "logits");
        var shifted = w.Node("Add", [logits, w.Floats("biases", [k], biases)], "logits_biased");
        w.NodeTo("Softmax", [shifted], ScoresName, attributes: GraphWriter.Int("axis", 1));
        var at = g.Input.ToList().FindIndex(i => i.Name == FeaturizerGraph.InputName);
        if (at < 0) throw new PCamExportException($"{ict.Path}: the featurizer graph has no '{FeaturizerGraph.InputName}' input.");
        g.Input[at] = TensorInfo(OnnxModelFile.InputName, DataType.Uint8, "N", side, side, PatchSchema.Channels);
        g.Output.Clear();
        g.Output.Add(TensorInfo(ScoresName, DataType.Float, "N", k));
        g.Output.Add(TensorInfo(OnnxModelFile.FeaturesName, DataType.Float, "N", dim));
        model.ProducerName = "pcam";
        model.ProducerVersion = Version;
        g.Name = "pcam";
        g.DocString = $"uint8 [N,{side},{side},3] RGB 'image' (decoded, stretched to {side}x{side}) in; 'scores' [N,{k}] softmax probabilities and 'features' [N,{dim}] out.";
        return model;
    }

    /// <summary>NAME.json of an ImageClassificationTrainer export: WSInfer's fields where they fit, the exact input
    /// (the decode and resize the consumer does), the outputs, and what the zip records.</summary>
    private static JsonObject ImageClassifierSidecar(ImageClassifierZip ict, ModelProto model, byte[] bytes, string onnxName)
    {
        int side = ict.ImageSide;
        const string resize = "bilinear with half-pixel centres (ONNX Resize linear/half_pixel, edges clamped), rounded to bytes; aspect ratio not kept, nothing cropped";
        return new JsonObject
        {
            ["spec_version"] = OnnxModelFile.SpecVersion,
            ["architecture"] = "pcam:ImageClassificationTrainer",
            ["num_classes"] = ict.Classes.Count,
            ["class_names"] = new JsonArray(ict.Classes.Select(c => (JsonNode)c).ToArray()),
            ["patch_size_pixels"] = side,
            ["spacing_um_px"] = null,
            // Scaling and normalisation are nodes of the graph; decoding and the stretch are the consumer's.
            ["transform"] = new JsonArray(new JsonObject
            {
                ["name"] = "Resize", ["arguments"] = new JsonObject { ["size"] = new JsonArray(side, side), ["interpolation"] = "bilinear", ["rule"] = resize },
            }),
            ["input"] = new JsonObject
            {
                ["name"] = OnnxModelFile.InputName, ["dtype"] = "uint8",
                ["shape"] = new JsonArray("N", side, side, PatchSchema.Channels),
                ["layout"] = "NHWC", ["channel_order"] = "RGB", ["value_range"] = new JsonArray(0, 255),
                ["decode"] = "any PNG, JPEG, BMP, GIF, WebP or TIFF; grey expanded to RGB, alpha dropped",
                ["resize"] = $"stretched to {side}x{side}: {resize}",
            },
            ["outputs"] = new JsonObject
            {
                [ScoresName] = new JsonObject
                {
                    ["dtype"] = "float32", ["shape"] = new JsonArray("N", ict.Classes.Count),
                    ["description"] = "softmax probabilities in class_names order (the zip's Score); predicted class = argmax",
                },
                [OnnxModelFile.FeaturesName] = new JsonObject
                {
                    ["dtype"] = "float32", ["shape"] = new JsonArray("N", ict.FeatureDimension),
                    ["description"] = "the featurizer's output, the softmax layer's input",
                },
            },
            ["onnx"] = OnnxFacts(model, bytes, onnxName, null),
            ["pcam"] = new JsonObject
            {
                ["version"] = Version,
                ["model"] = Path.GetFileName(ict.Path),
                ["model_sha256"] = ExternalData.Sha256(ict.Path),
                ["kind"] = "ImageClassificationTrainer",
                ["precision"] = ict.Precision,
            },
        };
    }

    /// <summary>Scores generated images with the zip's own steps and, decoded and stretched, with the exported graph in ONNX Runtime.</summary>
    private static double ImageClassifierSelfCheck(MLContext ml, ImageClassifierZip ict, string onnxPath)
    {
        var images = ModelBuilderExporter.SelfCheckPngs(ModelBuilderExporter.SelfCheckImages);
        var expected = ict.Score(ml, images);
        int side = ict.ImageSide, bytes = side * side * PatchSchema.Channels, k = ict.Classes.Count;
        var pixels = new byte[images.Count * bytes];
        for (var i = 0; i < images.Count; i++) Vision.ImageDecoding.DecodeStretched(images[i], side, null).CopyTo(pixels, i * bytes);
        float[] scores;
        using (var session = new InferenceSession(File.ReadAllBytes(onnxPath), BatchFeaturizer.CreateOptions(null, null)))
        using (var input = OrtValue.CreateTensorValueFromMemory(pixels, [images.Count, side, side, PatchSchema.Channels]))
        using (var run = new RunOptions())
        using (var outputs = session.Run(run, [OnnxModelFile.InputName], [input], [ScoresName]))
            scores = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        double worst = 0;
        for (var i = 0; i < images.Count; i++)
            for (var c = 0; c < k; c++)
            {
                var diff = Math.Abs(scores[i * k + c] - expected[i].Score[c]);
                if (!(diff <= SelfCheckTolerance))
                    throw new PCamExportException($"{onnxPath}: the exported graph disagrees with the zip (P('{ict.Classes[c]}') {scores[i * k + c]:F6} vs " +
                                                  $"{expected[i].Score[c]:F6} on a self-check image); nothing was written.");
                worst = Math.Max(worst, diff);
            }
        return worst;
    }
}
