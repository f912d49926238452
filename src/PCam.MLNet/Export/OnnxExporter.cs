using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using Microsoft.ML.Transforms.Onnx;
using Onnx;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;
using PCam.MLNet.Training;
using static PCam.MLNet.Featurization.GraphWriter;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PCam.MLNet.Export;

/// <summary>What <see cref="OnnxExporter.Export"/> wrote, and the self-check it ran.</summary>
/// <remarks>CheckedWhat names what the self-check scored: "patches" (a PCam model) or "images" (an ImageClassificationTrainer model).</remarks>
public sealed record OnnxExport(string OnnxPath, string SidecarPath, string? ExternalDataPath, int Opset, int FeatureDimension,
    int CheckedPatches, double MaxDifference, string CheckedWhat = "patches");

/// <summary>
/// `pcam export --format onnx`: a model zip as one ONNX graph (<see cref="OnnxModelFile"/>): the zip's own featurizer
/// graph (preprocessing, fp32 or int8 backbone, TTA views and their mean) followed by its head (normaliser, trainer,
/// Platt calibrator) as ML.NET's ONNX converter writes it, joined where the featurizer's "Features" output is the head's
/// "Features" input. NAME.json beside it follows WSInfer's model config where its fields fit.
/// </summary>
public static partial class OnnxExporter
{
    /// <summary>Synthetic patches the export scores with both the zip and the exported graph before it reports success.</summary>
    public const int SelfCheckPatches = 8;
    public const double SelfCheckTolerance = 1e-4;
    /// <summary>PCam's patches: 96 px at 10x (level 2 of Camelyon16's 0.243 um/px scans).</summary>
    public const double SpacingMicronsPerPixel = 0.972;
    /// <summary>Class names as WSInfer's tumour models name them; "probability" is P(class_names[1]).</summary>
    public static readonly string[] ClassNames = ["notumor", "tumor"];

    private static readonly JsonSerializerOptions SidecarJson = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private const string HeadPrefix = "pcam_head_";
    /// <summary>The head's calibrated probability as ML.NET's converter names the graph output of column "Probability".</summary>
    private const string HeadProbability = "Probability.output";

    public static OnnxExport Export(string zipPath, string outputDirectory, string? name = null)
    {
        name ??= Path.GetFileNameWithoutExtension(zipPath);
        if (name.Length == 0 || name is "." or ".." || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || name.Contains('\\'))
            throw new PCamExportException($"--name '{name}': not a file name (NAME.onnx and NAME.json are written into --output).");
        if (File.Exists(outputDirectory))
            throw new PCamExportException($"{outputDirectory}: is a file, not a folder; --output names the folder NAME.onnx and NAME.json are written into.");

        var ml = new MLContext(seed: 1);
        var zip = PCamModel.LoadMlNet(ml, zipPath, out var inputSchema);
        using var releaseZip = PCamModel.Owner(zip);
        if (ImageClassifierZip.Is(zip.GetOutputSchema(inputSchema)))
        {
            var ict = ImageClassifierZip.Open(zipPath, zip, inputSchema);
            return Write(ImageClassifierGraph(ict), zipPath, outputDirectory, name, ict.FeatureDimension,
                (model, bytes, onnxName, dataPath) => ImageClassifierSidecar(ict, model, bytes, onnxName),
                onnx => ImageClassifierSelfCheck(ml, ict, onnx), ModelBuilderExporter.SelfCheckImages, "images");
        }
        PCamModel.RequirePatchInput(zipPath, inputSchema);
        if (zip is not TransformerChain<ITransformer> chain || chain.FirstOrDefault() is not OnnxTransformer)
            throw new PCamExportException($"{zipPath}: the model is not an ONNX featurizer followed by a head (was it written by `pcam train`?).");
        var featureType = zip.GetOutputSchema(inputSchema).GetColumnOrNull(FeaturizerGraph.OutputName)?.Type;
        if (featureType is not VectorDataViewType { Size: > 0 and var dim })
            throw new PCamExportException($"{zipPath}: the model has no fixed-size '{FeaturizerGraph.OutputName}' column between featurizer and head.");

        var featurizer = ModelProto.Parser.ParseFrom(ModelZip.ReadGraph(zipPath));
        var head = ConvertHead(ml, zipPath, chain.Skip(1), dim);
        var merged = Stitch(featurizer, head, dim);

        return Write(merged, zipPath, outputDirectory, name, dim, (model, bytes, onnxName, dataPath) => Sidecar(model, bytes, zipPath, onnxName, dataPath, dim),
            onnx => SelfCheck(ml, zip, onnx), SelfCheckPatches, "patches");
    }

    /// <summary>
    /// Writes NAME.onnx (and NAME.onnx.data) and NAME.json into a staging folder, runs <paramref name="selfCheck"/> on the
    /// staged graph, then moves the files into <paramref name="outputDirectory"/>, the sidecar last.
    /// </summary>
    private static OnnxExport Write(ModelProto merged, string zipPath, string outputDirectory, string name, int dim,
        Func<ModelProto, byte[], string, string?, JsonObject> sidecarOf, Func<string, double> selfCheck, int checkedCount, string checkedWhat)
    {
        var outDir = Path.GetFullPath(outputDirectory);
        var created = !Directory.Exists(outDir);
        Directory.CreateDirectory(outDir);
        var staging = Path.Combine(outDir, $".{name}.{Environment.ProcessId}.export");
        try
        {
            Directory.CreateDirectory(staging);
            var onnxName = name + OnnxModelFile.Extension;
            var dataName = OnnxModelFile.ExternalDataName(onnxName);
            var hasData = MoveExternalData(merged, Path.GetDirectoryName(Path.GetFullPath(zipPath))!, Path.Combine(staging, dataName), dataName);
            var bytes = merged.ToByteArray();
            File.WriteAllBytes(Path.Combine(staging, onnxName), bytes);
            var sidecar = sidecarOf(merged, bytes, onnxName, hasData ? Path.Combine(staging, dataName) : null);
            File.WriteAllText(OnnxModelFile.SidecarPath(Path.Combine(staging, onnxName)), sidecar.ToJsonString(SidecarJson) + "\n");
            var difference = selfCheck(Path.Combine(staging, onnxName));

            // The sidecar goes last: `pcam predict` refuses an .onnx without it, so a crash between the moves leaves
            // no file that looks complete.
            var final = Path.Combine(outDir, onnxName);
            TestHooks.Reached("onnx-export");
            if (hasData) File.Move(Path.Combine(staging, dataName), Path.Combine(outDir, dataName), overwrite: true);
            else if (File.Exists(Path.Combine(outDir, dataName))) File.Delete(Path.Combine(outDir, dataName)); // a stale one from an earlier export
            File.Move(Path.Combine(staging, onnxName), final, overwrite: true);
            File.Move(OnnxModelFile.SidecarPath(Path.Combine(staging, onnxName)), OnnxModelFile.SidecarPath(final), overwrite: true);
            return new OnnxExport(final, OnnxModelFile.SidecarPath(final), hasData ? Path.Combine(outDir, dataName) : null,
                Opset(merged, ""), dim, checkedCount, difference, checkedWhat);
        }
        catch when (created)
        {
            TryDelete(staging);
            if (Directory.Exists(outDir) && !Directory.EnumerateFileSystemEntries(outDir).Any()) Directory.Delete(outDir);
            throw;
        }
        finally
        {
            TryDelete(staging);
        }
    }

    /// <summary>Row type of the converter's input: only the features (the converter refuses a view that also holds the image bytes).</summary>
    private sealed class FeatureRow
    {
        public float[] Features { get; set; } = [];
    }

    /// <summary>
    /// The head's steps as ML.NET's ONNX converter writes them, from "Features" to "Probability.output". Two steps
    /// pcam train adds are not the head's arithmetic and are left out: the leading identity that flattens the
    /// featurizer's output type (<see cref="PCamModel.FeatureShape"/>) and the trailing PredictedLabel decision
    /// (p &gt;= 0.5, which the consumer applies to "probability"). Every other step must convert.
    /// </summary>
    internal static ModelProto ConvertHead(MLContext ml, string zipPath, IEnumerable<ITransformer> headSteps, int dim)
    {
        var steps = Flatten(headSteps).ToList();
        var definition = SchemaDefinition.Create(typeof(FeatureRow));
        definition[FeaturizerGraph.OutputName].ColumnType = new VectorDataViewType(NumberDataViewType.Single, dim);
        var input = ml.Data.LoadFromEnumerable(Array.Empty<FeatureRow>(), definition);
        if (steps.Count > 0 && steps[0] is ExpressionTransformer && Adds(steps[0], input.Schema) == FeaturizerGraph.OutputName) steps.RemoveAt(0);
        var beforeLast = steps.Count > 1 ? new TransformerChain<ITransformer>(steps[..^1].ToArray()).GetOutputSchema(input.Schema) : null;
        if (beforeLast is not null && steps[^1] is ExpressionTransformer && Adds(steps[^1], beforeLast) == "PredictedLabel") steps.RemoveAt(steps.Count - 1);
        var described = string.Join(" -> ", steps.Select(Describe));
        using var stream = new MemoryStream();
        try
        {
            ml.Model.ConvertToOnnx(new TransformerChain<ITransformer>(steps.ToArray()), input, stream);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // ML.NET's converter reports a step it cannot write with several exception types; the user needs one message.
            throw new PCamExportException($"{zipPath}: the head ({described}) cannot be written as ONNX: ML.NET's ONNX converter refused it " +
                                          $"({e.GetType().Name}: {e.Message.Split('\n')[0].Trim()}). Heads of pcam train's trainers (LbfgsLogisticRegression, " +
                                          "SdcaLogisticRegression, LightGbm, FastTree) with Platt calibration convert; nothing was written.", e);
        }
        var head = ModelProto.Parser.ParseFrom(stream.ToArray());
        if (!head.Graph.Output.Any(o => o.Name == HeadProbability))
            throw new PCamExportException($"{zipPath}: the head ({described}) cannot be written as ONNX: ML.NET's ONNX converter dropped " +
                                          "a step it cannot write, so the graph has no calibrated Probability; nothing was written.");
        return head;
    }

    private static IEnumerable<ITransformer> Flatten(IEnumerable<ITransformer> steps) =>
        steps.SelectMany(t => t is TransformerChain<ITransformer> c ? Flatten(c) : [t]);

    /// <summary>The one column a step writes, or null: the name that occurs once more in its output than in its input
    /// (a replaced column stays as a hidden copy, wherever ML.NET places the new one).</summary>
    private static string? Adds(ITransformer step, DataViewSchema input)
    {
        var before = input.GroupBy(c => c.Name).ToDictionary(g => g.Key, g => g.Count());
        var written = step.GetOutputSchema(input).GroupBy(c => c.Name).Where(g => g.Count() > before.GetValueOrDefault(g.Key)).Select(g => g.Key).ToList();
        return written.Count == 1 ? written[0] : null;
    }

    private static string Describe(ITransformer t) =>
        t is ISingleFeaturePredictionTransformer<object> p ? $"{Short(t.GetType())}<{Short(p.Model.GetType())}>" : Short(t.GetType());

    /// <summary>A type's name with its generic arguments (a calibrated model shows the model and its calibrator).</summary>
    private static string Short(Type t) =>
        t.IsGenericType ? $"{t.Name.Split('`')[0]}<{string.Join(", ", t.GetGenericArguments().Select(Short))}>" : t.Name;

    /// <summary>
    /// One graph: "image" -> the featurizer -> "Features" -> the head (its names prefixed so none clashes with the
    /// featurizer's) -> "probability" [N]; "features" is the featurizer's output, the head's input column. Only the
    /// head nodes that lead to the calibrated probability are kept. The opsets are the larger of the two per domain:
    /// the head uses only Scaler, LinearRegressor, TreeEnsembleRegressor (ai.onnx.ml) and Mul, Add, Sigmoid, Identity,
    /// whose meaning did not change between ML.NET's opset 12 and the featurizer's.
    /// </summary>
    internal static ModelProto Stitch(ModelProto featurizer, ModelProto head, int dim)
    {
        var model = featurizer.Clone();
        var g = model.Graph;
        string Rename(string v) => v.Length == 0 || v == FeaturizerGraph.OutputName ? v : HeadPrefix + v;

        var producer = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var n in head.Graph.Node) foreach (var o in n.Output) producer[o] = n;
        var needed = new HashSet<NodeProto>();
        var pending = new Stack<string>([HeadProbability]);
        while (pending.Count > 0)
            if (producer.TryGetValue(pending.Pop(), out var n) && needed.Add(n))
                foreach (var i in n.Input) pending.Push(i);
        var used = new HashSet<string>(needed.SelectMany(n => n.Input), StringComparer.Ordinal);
        foreach (var n in head.Graph.Node.Where(needed.Contains))
        {
            var copy = n.Clone();
            copy.Name = HeadPrefix + n.Name;
            for (int i = 0; i < copy.Input.Count; i++) copy.Input[i] = Rename(copy.Input[i]);
            for (int i = 0; i < copy.Output.Count; i++) copy.Output[i] = Rename(copy.Output[i]);
            g.Node.Add(copy);
        }
        foreach (var t in head.Graph.Initializer.Where(t => used.Contains(t.Name)))
        {
            var copy = t.Clone();
            copy.Name = Rename(t.Name);
            g.Initializer.Add(copy);
        }

        // Entry and exits under the names consumers use; the featurizer's own "Image" is fed by an Identity, so no
        // reference to it (nested Scan bodies included) has to change.
        var w = new GraphWriter(g, "pcam_export_");
        w.NodeTo("Identity", [OnnxModelFile.InputName], FeaturizerGraph.InputName, before: true);
        w.FlushPreprocessing();
        w.NodeTo("Identity", [FeaturizerGraph.OutputName], OnnxModelFile.FeaturesName);
        w.NodeTo("Reshape", [Rename(HeadProbability), w.Int64s("flat", -1)], OnnxModelFile.ProbabilityName);
        var image = TensorInfo(OnnxModelFile.InputName, DataType.Uint8, "N", PatchSchema.Height, PatchSchema.Width, PatchSchema.Channels);
        var at = g.Input.ToList().FindIndex(i => i.Name == FeaturizerGraph.InputName);
        if (at < 0) throw new PCamExportException($"the model's featurizer graph has no '{FeaturizerGraph.InputName}' input.");
        g.Input[at] = image;
        g.Output.Clear();
        g.Output.Add(TensorInfo(OnnxModelFile.ProbabilityName, DataType.Float, "N"));
        g.Output.Add(TensorInfo(OnnxModelFile.FeaturesName, DataType.Float, "N", dim));

        foreach (var o in head.OpsetImport)
        {
            var mine = model.OpsetImport.FirstOrDefault(x => x.Domain == o.Domain);
            if (mine is null) model.OpsetImport.Add(o.Clone());
            else mine.Version = Math.Max(mine.Version, o.Version);
        }
        model.IrVersion = Math.Max(model.IrVersion, head.IrVersion);
        model.ProducerName = "pcam";
        model.ProducerVersion = Version;
        g.Name = "pcam";
        g.DocString = "uint8 [N,96,96,3] RGB 'image' in; 'probability' [N] = calibrated P(tumor) and 'features' [N,D] out.";
        return model;
    }

    /// <summary>
    /// Points every externally stored tensor at one file, NAME.onnx.data, written to <paramref name="dataPath"/> from the
    /// weight files beside the zip (each at a 4 KiB-aligned offset). Returns false when the graph has no external data.
    /// </summary>
    internal static bool MoveExternalData(ModelProto model, string zipFolder, string dataPath, string dataName)
    {
        var tensors = ExternalData.AllTensors(model.Graph).Where(t => t.DataLocation == TensorProto.Types.DataLocation.External).ToList();
        if (tensors.Count == 0) return false;
        var bases = new Dictionary<string, long>(StringComparer.Ordinal);
        using (var output = File.Create(dataPath))
        {
            foreach (var location in tensors.Select(t => Entry(t, "location") ?? "").Distinct())
            {
                var source = Path.Combine(zipFolder, location);
                if (!File.Exists(source)) throw new PCamExportException($"{source}: the backbone's external weights are missing (they lie beside the model zip).");
                output.SetLength((output.Length + 4095) / 4096 * 4096);
                output.Position = output.Length;
                bases[location] = output.Position;
                using var input = File.OpenRead(source);
                input.CopyTo(output);
            }
        }
        foreach (var t in tensors)
        {
            var location = Entry(t, "location") ?? "";
            long.TryParse(Entry(t, "offset"), out var offset);
            foreach (var kv in t.ExternalData)
            {
                if (kv.Key == "location") kv.Value = dataName;
                if (kv.Key == "offset") kv.Value = (bases[location] + offset).ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            if (Entry(t, "offset") is null && bases[location] != 0)
                t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = bases[location].ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }
        return true;
    }

    private static string? Entry(TensorProto t, string key) => t.ExternalData.FirstOrDefault(kv => kv.Key == key)?.Value;

    private static int Opset(ModelProto model, string domain) => (int)(model.OpsetImport.FirstOrDefault(o => o.Domain == domain)?.Version ?? 0);

    private static string Version => typeof(OnnxExporter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    /// <summary>NAME.json: WSInfer's model config fields (spec_version, architecture, num_classes, class_names,
    /// patch_size_pixels, spacing_um_px, transform), then what is specific to this file: its tensors, ONNX facts, SHA-256,
    /// where it came from, and the training run's metrics.</summary>
    private static JsonObject Sidecar(ModelProto model, byte[] bytes, string zipPath, string onnxName, string? dataPath, int dim)
    {
        JsonNode? metrics = null;
        var metricsPath = RunArtifacts.MetricsPath(zipPath);
        if (File.Exists(metricsPath))
        {
            try { metrics = JsonNode.Parse(File.ReadAllText(metricsPath)); }
            catch (JsonException e) { throw new PCamExportException($"{metricsPath}: not valid JSON ({e.Message}).", e); }
        }
        var backbone = (string?)metrics?["backbone"]?["name"] ?? "featurizer";
        var trainer = (string?)metrics?["head"]?["trainer"] ?? "head";
        return new JsonObject
        {
            ["spec_version"] = OnnxModelFile.SpecVersion,
            ["architecture"] = $"pcam:{backbone}+{trainer}",
            ["num_classes"] = ClassNames.Length,
            ["class_names"] = new JsonArray(ClassNames.Select(c => (JsonNode)c).ToArray()),
            ["patch_size_pixels"] = PatchSchema.Width,
            ["spacing_um_px"] = SpacingMicronsPerPixel,
            // Resize, scaling, normalisation and TTA are nodes of the graph: a consumer feeds the raw pixels.
            ["transform"] = new JsonArray(),
            ["input"] = new JsonObject
            {
                ["name"] = OnnxModelFile.InputName, ["dtype"] = "uint8",
                ["shape"] = new JsonArray("N", PatchSchema.Height, PatchSchema.Width, PatchSchema.Channels),
                ["layout"] = "NHWC", ["channel_order"] = "RGB", ["value_range"] = new JsonArray(0, 255),
            },
            ["outputs"] = new JsonObject
            {
                [OnnxModelFile.ProbabilityName] = new JsonObject
                {
                    ["dtype"] = "float32", ["shape"] = new JsonArray("N"),
                    ["description"] = $"calibrated probability of '{ClassNames[1]}' (Platt, fitted on the validation split); predicted label = probability >= 0.5",
                },
                [OnnxModelFile.FeaturesName] = new JsonObject
                {
                    ["dtype"] = "float32", ["shape"] = new JsonArray("N", dim),
                    ["description"] = "the featurizer's output, the head's input (before its normaliser)",
                },
            },
            ["onnx"] = OnnxFacts(model, bytes, onnxName, dataPath),
            ["pcam"] = new JsonObject
            {
                ["version"] = Version,
                ["model"] = Path.GetFileName(zipPath),
                ["model_sha256"] = ExternalData.Sha256(zipPath),
                ["backbone"] = metrics?["backbone"]?.DeepClone(),
                ["head"] = metrics?["head"]?.DeepClone(),
            },
            ["metrics"] = metrics is null ? null : new JsonObject
            {
                ["nll_unit"] = (string?)metrics["nllUnit"] ?? "nats",
                ["rows"] = metrics["rows"]?.DeepClone(),
                ["valid"] = metrics["valid"]?.DeepClone(),
                ["test"] = metrics["test"]?.DeepClone(),
            },
        };
    }

    /// <summary>NAME.json's "onnx" block: the file, its SHA-256 (checked by <see cref="OnnxModelFile.Open"/>), opsets and external data.</summary>
    private static JsonObject OnnxFacts(ModelProto model, byte[] bytes, string onnxName, string? dataPath) => new()
    {
        ["file"] = onnxName,
        ["sha256"] = Convert.ToHexStringLower(SHA256.HashData(bytes)),
        ["opset"] = Opset(model, ""),
        ["opset_ai_onnx_ml"] = Opset(model, "ai.onnx.ml"),
        ["ir_version"] = model.IrVersion,
        ["external_data"] = dataPath is null ? null : new JsonObject
        {
            ["file"] = Path.GetFileName(dataPath), ["bytes"] = new FileInfo(dataPath).Length, ["sha256"] = ExternalData.Sha256(dataPath),
        },
    };

    /// <summary>Scores synthetic patches with the zip and with the exported graph (ONNX Runtime, one batch); they must agree.</summary>
    private static double SelfCheck(MLContext ml, ITransformer zip, string onnxPath)
    {
        var rng = new Random(7);
        var pixels = new byte[SelfCheckPatches * PatchSchema.ImageBytes];
        rng.NextBytes(pixels);
        float[] exported;
        using (var session = new OnnxModelFile.Session(onnxPath)) exported = session.Predict(pixels, SelfCheckPatches);
        using var engine = ml.Model.CreatePredictionEngine<PatchInput, PatchPrediction>(zip);
        double worst = 0;
        for (var i = 0; i < SelfCheckPatches; i++)
        {
            var expected = engine.Predict(new PatchInput { Image = pixels.AsSpan(i * PatchSchema.ImageBytes, PatchSchema.ImageBytes).ToArray() }).Probability;
            var diff = Math.Abs(exported[i] - expected);
            if (!(diff <= SelfCheckTolerance))
                throw new PCamExportException($"{onnxPath}: the exported graph disagrees with the zip (P {exported[i]:F6} vs {expected:F6} on a self-check patch); nothing was written.");
            worst = Math.Max(worst, diff);
        }
        return worst;
    }

    private static void TryDelete(string folder)
    {
        try { if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true); }
        catch (IOException) { /* best effort: a hidden staging folder */ }
    }
}
