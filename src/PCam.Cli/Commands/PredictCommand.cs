using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.ML;
using PCam.MLNet.Data;
using PCam.MLNet.Training;
using PCam.MLNet.Featurization;

namespace PCam.Cli.Commands;

internal sealed class PredictCommand : ICommandFactory
{
    public Command Create(CliContext cli)
    {
        var model = new Option<string>("--model") { Description = "Model zip written by `pcam train`, or NAME.onnx written by `pcam export --format onnx` (its NAME.json beside it).", Required = true };
        model.MustBeFile("model file");
        var inputs = new Argument<string[]>("inputs") { Description = "Image files (PNG/JPEG/TIFF, 96x96 RGB), folders of them, or an official _x.h5 file.", Arity = ArgumentArity.OneOrMore };
        var json = new Option<bool>("--json") { Description = "Print a JSON array instead of CSV." };
        var cache = new Option<string?>("--cache-dir") { Description = $"Where an _x.h5.gz input is decompressed (default: {PCamDataOptions.DefaultCacheFolder} beside it)." };
        var cmd = new Command("predict", "Classify patches with a model zip (or its exported .onnx): prints index or path, probability of tumour and predicted label.") { model, inputs, json, cache };
        cli.Bind(cmd, (parse, log) =>
        {
            // Inputs are listed and checked (files exist, image headers known, HDF5 layout valid) before the model loads.
            if (!File.Exists(parse.GetValue(model))) throw new PCamModelException($"{parse.GetValue(model)}: model file not found.");
            var items = Expand(parse.GetValue(inputs)!, parse.GetValue(cache)).ToList();
            if (OnnxModelFile.Is(parse.GetValue(model)!)) return PrintRows(cli, parse.GetValue(json), PredictExported(parse.GetValue(model)!, items, log));
            var ml = new MLContext(seed: 1);
            var loaded = PCamModel.Load(ml, parse.GetValue(model)!, out _);
            using var release = PCamModel.Owner(loaded); // disposes the ONNX sessions and ML.NET's unpacked graph files
            var engine = ml.Model.CreatePredictionEngine<PatchInput, PatchPrediction>(loaded);
            var rows = new List<(string Id, PatchPrediction P)>();
            using (var task = log.StartTask("Predict", items.Count))
            {
                foreach (var item in items)
                {
                    foreach (var (id, image) in item.Read())
                    {
                        var p = engine.Predict(new PatchInput { Image = image });
                        rows.Add((id, new PatchPrediction { Probability = p.Probability, Score = p.Score, PredictedLabel = p.PredictedLabel }));
                    }
                    task.Advance(1);
                }
            }
            return PrintRows(cli, parse.GetValue(json), rows);
        });
        return cmd;
    }

    /// <summary>An exported .onnx, run by ONNX Runtime on batches of patches (the probability it gives is the zip's).</summary>
    private static List<(string Id, PatchPrediction P)> PredictExported(string path, List<Input> items, ConsoleLog log)
    {
        const int batch = 64;
        using var session = new OnnxModelFile.Session(path, batch);
        var rows = new List<(string Id, PatchPrediction P)>();
        var ids = new List<string>(batch);
        var pixels = new byte[batch * PatchSchema.ImageBytes];
        void Flush()
        {
            foreach (var (id, p) in ids.Zip(session.Predict(pixels, ids.Count)))
                rows.Add((id, new PatchPrediction { Probability = p, PredictedLabel = p >= 0.5f }));
            ids.Clear();
        }
        using (var task = log.StartTask("Predict", items.Count))
        {
            foreach (var item in items)
            {
                foreach (var (id, image) in item.Read())
                {
                    image.CopyTo(pixels, ids.Count * PatchSchema.ImageBytes);
                    ids.Add(id);
                    if (ids.Count == batch) Flush();
                }
                task.Advance(1);
            }
            if (ids.Count > 0) Flush();
        }
        return rows;
    }

    private static int PrintRows(CliContext cli, bool json, List<(string Id, PatchPrediction P)> rows)
    {
        if (json)
        {
            var arr = new JsonArray(rows.Select(r => (JsonNode)new JsonObject
            {
                ["input"] = r.Id, ["probability"] = r.P.Probability, ["predictedLabel"] = r.P.PredictedLabel ? 1 : 0,
            }).ToArray());
            cli.Out.WriteLine(arr.ToJsonString());
        }
        else
        {
            cli.Out.WriteLine("input,probability,predicted_label");
            foreach (var (id, p) in rows)
                cli.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Csv(id)},{p.Probability:F6},{(p.PredictedLabel ? 1 : 0)}"));
        }
        return 0;
    }

    private static string Csv(string s) => s.Contains(',') || s.Contains('"') ? $"\"{s.Replace("\"", "\"\"")}\"" : s;

    private sealed record Input(Func<IEnumerable<(string Id, byte[] Image)>> Read);

    /// <summary>Files, folders (recursively, image files only) and _x.h5 files (every row, by index), each checked now.</summary>
    private static IEnumerable<Input> Expand(IEnumerable<string> paths, string? cacheDir)
    {
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                var files = Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                    .Where(f => PatchImageDecoder.Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                    .Order(StringComparer.Ordinal).ToList();
                if (files.Count == 0) throw new PCamDataException($"{path}: no {string.Join(", ", PatchImageDecoder.Extensions)} images in this folder.");
                foreach (var f in files) yield return ImageFile(f);
            }
            else if (path.EndsWith(".h5", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".h5.gz", StringComparison.OrdinalIgnoreCase))
            {
                PatchFiles.OpenImages(path, cacheDir).Dispose(); // layout, shape and dtype checked now; rows read later
                yield return new Input(() => H5Rows(path, cacheDir));
            }
            else if (File.Exists(path)) yield return ImageFile(path);
            else throw new PCamDataException($"{path}: no such file or folder.");
        }
    }

    private static Input ImageFile(string path)
    {
        // The header is checked now; the strict decode (truncation, colour rule) happens when the row is scored.
        var head = new byte[16];
        int n;
        try { using var fs = File.OpenRead(path); n = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new PCamDataException($"{path}: cannot read image ({e.Message})", e); }
        if (PatchImageDecoder.DetectFormat(head.AsSpan(0, n)) == PatchImageFormat.Unknown)
            throw new PCamDataException($"{path}: not a PNG, JPEG, TIFF or BMP image (unrecognised file header)");
        return new(() => [(path, PatchImageDecoder.DecodeFile(path))]);
    }

    private static IEnumerable<(string, byte[])> H5Rows(string xPath, string? cacheDir)
    {
        using var source = PatchFiles.OpenImages(xPath, cacheDir);
        for (long row = 0; row < source.RowCount; row++)
        {
            var image = new byte[PatchSchema.ImageBytes];
            source.ReadImages(row, 1, image);
            yield return (source.GetIndex(row).ToString(CultureInfo.InvariantCulture), image);
        }
    }
}
