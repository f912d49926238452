using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using static PCam.MLNet.Featurization.GraphWriter;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PCam.MLNet.Training;

/// <summary>
/// The model as one ONNX file (written by `pcam export --format onnx`): uint8 [N,96,96,3] RGB <see cref="InputName"/> in,
/// float [N] <see cref="ProbabilityName"/> (the zip's calibrated P(tumour)) and float [N,D] <see cref="FeaturesName"/>
/// out, with NAME.json beside it (what a consumer needs to feed it, and the file's SHA-256) and, for a backbone with
/// external weights, NAME.onnx.data. This class is the one place that knows that layout: the exporter writes it,
/// `pcam predict` and `pcam heatmap` open it.
/// </summary>
public static class OnnxModelFile
{
    public const string Extension = ".onnx";
    public const string InputName = "image";
    public const string ProbabilityName = "probability";
    public const string FeaturesName = "features";
    /// <summary>Version of NAME.json's layout (WSInfer's model config fields plus PCam's own).</summary>
    public const string SpecVersion = "1.0";

    /// <summary>True when <paramref name="path"/> names an exported .onnx rather than a model zip.</summary>
    public static bool Is(string path) => path.EndsWith(Extension, StringComparison.OrdinalIgnoreCase);

    public static string SidecarPath(string onnxPath) => Path.ChangeExtension(onnxPath, ".json");
    public static string ExternalDataName(string onnxFileName) => onnxFileName + ".data";

    /// <summary>
    /// Checks an exported model before it runs: the file, its NAME.json, and that the file is the one the sidecar
    /// describes (SHA-256), so a graph swapped or damaged after export is refused with one message. Returns the bytes
    /// and the parsed sidecar.
    /// </summary>
    public static (byte[] Bytes, JsonObject Sidecar) Open(string path)
    {
        if (!File.Exists(path)) throw new PCamModelException($"{path}: model file not found.");
        var sidecar = SidecarPath(path);
        if (!File.Exists(sidecar))
            throw new PCamModelException($"{path}: its {Path.GetFileName(sidecar)} is missing (pcam export writes it beside the .onnx; it says how to feed the model).");
        JsonObject card;
        try { card = JsonNode.Parse(File.ReadAllText(sidecar)) as JsonObject ?? throw new JsonException("not a JSON object"); }
        catch (JsonException e) { throw new PCamModelException($"{sidecar}: not valid JSON ({e.Message}).", e); }
        var bytes = File.ReadAllBytes(path);
        var expected = (string?)card["onnx"]?["sha256"];
        var actual = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
        if (expected != actual)
            throw new PCamModelException($"{path}: its SHA-256 ({actual[..12]}...) is not the one in {Path.GetFileName(sidecar)} " +
                                         $"({(expected is null ? "none" : expected[..Math.Min(12, expected.Length)] + "...")}); the file was altered or belongs to another export.");
        if ((int?)card["patch_size_pixels"] != PatchSchema.Width || (string?)card["input"]?["name"] != InputName)
            throw new PCamModelException($"{sidecar}: the model does not take {PatchSchema.Width}x{PatchSchema.Height} uint8 RGB patches as '{InputName}', so it is not a PCam export.");
        if (card["outputs"]?[ProbabilityName] is null)
            throw new PCamModelException($"{sidecar}: the model has no '{ProbabilityName}' output (an image-classification export gives class scores), so it is not a PCam patch model; run it with ONNX Runtime as its {Path.GetFileName(sidecar)} says.");
        return (bytes, card);
    }

    /// <summary>
    /// The exported graph seen as a featurizer with one feature, the probability (uint8 "Image" in, [N,1] "Features"
    /// out), so that the heatmap's batched path runs it unchanged with a head that only reads that feature.
    /// </summary>
    public static byte[] AsProbabilityFeaturizer(byte[] bytes)
    {
        var model = ModelProto.Parser.ParseFrom(bytes);
        var g = model.Graph;
        // The export feeds its featurizer's "Image" from "image" with one Identity; without it "Image" is the input again.
        var entry = g.Node.FirstOrDefault(n => n.OpType == "Identity" && n.Input.Count == 1 && n.Input[0] == InputName && n.Output.Count == 1 && n.Output[0] == FeaturizerGraph.InputName)
                    ?? throw new PCamModelException($"the graph has no '{InputName}' -> '{FeaturizerGraph.InputName}' entry, so it was not written by `pcam export --format onnx`.");
        g.Node.Remove(entry);
        // "Features" inside the export is the featurizer's output; here that name is the view's output, so the inner one is renamed.
        const string inner = "pcam_view_featurizer_output";
        foreach (var n in g.Node)
        {
            for (int i = 0; i < n.Input.Count; i++) if (n.Input[i] == FeaturizerGraph.OutputName) n.Input[i] = inner;
            for (int i = 0; i < n.Output.Count; i++) if (n.Output[i] == FeaturizerGraph.OutputName) n.Output[i] = inner;
        }
        var w = new GraphWriter(g, "pcam_view_");
        w.NodeTo("Reshape", [ProbabilityName, w.Int64s("shape", -1, 1)], FeaturizerGraph.OutputName);
        var input = g.Input.Single(i => i.Name == InputName);
        g.Input[g.Input.IndexOf(input)] = TensorInfo(FeaturizerGraph.InputName, DataType.Uint8, "N", PatchSchema.Height, PatchSchema.Width, PatchSchema.Channels);
        g.Output.Clear();
        g.Output.Add(TensorInfo(FeaturizerGraph.OutputName, DataType.Float, "N", 1));
        return model.ToByteArray();
    }

    /// <summary>Runs an exported graph on batches of patches: the probability of every patch.</summary>
    public sealed class Session : IDisposable
    {
        private readonly InferenceSession _session;
        private readonly int _batch;

        /// <param name="path">The .onnx file (checked with <see cref="Open"/>); its external data, if any, lies beside it.</param>
        public Session(string path, int batch = 64, int? threads = null)
        {
            var (bytes, _) = Open(path);
            var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
            try { _session = new InferenceSession(bytes, BatchFeaturizer.CreateOptions(threads, folder)); }
            catch (OnnxRuntimeException e) { throw new PCamModelException($"{path}: ONNX Runtime cannot load it ({e.Message.Split('\n')[0]}).", e); }
            _batch = Math.Max(1, batch);
        }

        /// <summary>images: count x 27648 bytes (HWC RGB); returns count probabilities.</summary>
        public float[] Predict(ReadOnlySpan<byte> images, int count)
        {
            var result = new float[count];
            for (int start = 0; start < count; start += _batch)
            {
                int n = Math.Min(_batch, count - start);
                var slice = images.Slice(start * PatchSchema.ImageBytes, n * PatchSchema.ImageBytes).ToArray();
                using var input = OrtValue.CreateTensorValueFromMemory(slice, [n, PatchSchema.Height, PatchSchema.Width, PatchSchema.Channels]);
                using var run = new RunOptions();
                using var outputs = _session.Run(run, [InputName], [input], [ProbabilityName]);
                outputs[0].GetTensorDataAsSpan<float>().CopyTo(result.AsSpan(start, n));
            }
            return result;
        }

        public void Dispose() => _session.Dispose();
    }
}
