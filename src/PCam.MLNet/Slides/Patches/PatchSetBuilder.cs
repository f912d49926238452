using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PCam.MLNet.Data;
using PCam.MLNet.Slides.Annotations;
using PCam.MLNet.Slides.Reading;
using PCam.MLNet.Slides.Windows;

namespace PCam.MLNet.Slides.Patches;

/// <summary>One patch of the set: where it came from and what it is.</summary>
public sealed record PatchRecord(string SlideId, PCamSplit Split, int I, int J, long MinX, long MinY, bool Label, double TumourFraction);

/// <summary>What one slide gave.</summary>
public sealed record SlidePatches(PatchSlide Slide, PCamSplit Split, bool IsTumourSlide, string Sampling,
    int TissueWindows, int TumourCandidates, int NormalCandidates, int AmbiguousSkipped, int Tumour, int Normal);

public sealed record PatchSetResult(string OutputDirectory, IReadOnlyList<SlidePatches> Slides,
    IReadOnlyDictionary<PCamSplit, (int Tumour, int Normal)> Counts, IReadOnlyList<string> Files);

/// <summary>
/// `pcam patches`: annotated slides to a PCam-style training set. Windows are PCam's (96x96 at 0.972 um/px, through
/// <see cref="SlideWindows"/> as `pcam heatmap` reads them) on the heatmap's stride-32 grid, kept when the heatmap's
/// tissue mask covers --min-tissue of them, labelled by <see cref="CentreLabel"/>. Slides go whole to one split
/// (<see cref="SlideSplitter"/>); each slide gives at most MaxPerSlide patches (half per class, seeded); each split is
/// then balanced; pixels are spooled to a temp file slide by slide (bounded memory), written in a seeded shuffled
/// order as the official `x`/`y` HDF5 files, and every output appears by rename only when all are complete.
/// </summary>
public static class PatchSetBuilder
{
    public const int GridStride = CentreLabel.CentreSize;
    public static readonly PCamSplit[] Splits = [PCamSplit.Train, PCamSplit.Valid, PCamSplit.Test];

    public static PatchSetResult Build(IReadOnlyList<PatchSlide> slides, string outputDirectory, PatchSetOptions options,
        IProgress<(string Stage, long Done, long Total)>? progress = null, Action<string>? warning = null, CancellationToken cancel = default)
    {
        options.Validate();
        if (slides.Count == 0) throw new PCamDataException("no slides to read.");
        if (slides.GroupBy(s => s.Id, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } dup)
            throw new PCamDataException($"{string.Join(" and ", dup.Select(s => s.Path))}: slides share the id '{dup.Key}' (file stem); patches.csv and the annotations are matched by it, so rename one.");

        // 1. Annotations first: a malformed file fails the run before any pixels are read.
        var annotations = new SlideAnnotation[slides.Count];
        for (int s = 0; s < slides.Count; s++)
        {
            cancel.ThrowIfCancellationRequested();
            var slide = slides[s];
            if (slide.AnnotationPath is null)
            {
                annotations[s] = SlideAnnotation.Empty();
                continue;
            }
            using var reader = SlideImage.Open(slide.Path);
            var l0 = reader.Levels[0];
            annotations[s] = AnnotationReader.Read(slide.AnnotationPath, options.Annotations, l0.Width, l0.Height);
            if (slide.Label == false && annotations[s].HasTumour)
                throw new PCamDataException($"{slide.AnnotationPath}: marks tumour, but the slide labels call slide '{slide.Id}' normal.");
        }

        // 2. Slides to splits.
        var tumourSlide = slides.Select((s, k) => annotations[k].HasTumour || s.Label == true).ToArray();
        var splitOf = SlideSplitter.Assign(tumourSlide, options.Split, options.Seed);

        // 3. Candidates per slide, capped and sampled.
        var chosen = new List<PatchRecord>[slides.Count];
        var summaries = new SlidePatches[slides.Count];
        for (int s = 0; s < slides.Count; s++)
        {
            cancel.ThrowIfCancellationRequested();
            var slide = slides[s];
            progress?.Report(($"scan {slide.Id}", s, slides.Count));
            if (slide.AnnotationPath is null && slide.Label == true)
                warning?.Invoke($"{slide.Path}: the slide labels call it tumour but it has no annotation file, so none of its windows can be labelled; it gives no patches.");
            var split = Splits[splitOf[s]];
            var (records, tissue, pos, neg, amb, sampling) = slide.AnnotationPath is null && slide.Label == true
                ? ([], 0, 0, 0, 0, "skipped")
                : Candidates(slide, annotations[s], split, options, new Random(HashCode.Combine(options.Seed, StableHash(slide.Id))), cancel);
            chosen[s] = records;
            summaries[s] = new SlidePatches(slide, split, tumourSlide[s], sampling, tissue, pos, neg, amb, records.Count(r => r.Label), records.Count(r => !r.Label));
        }

        // 4. Balance each split.
        var random = new Random(options.Seed);
        var bySplit = Splits.ToDictionary(s => s, s => chosen.Where(c => c is not null).SelectMany(c => c).Where(r => r.Split == s).ToList());
        foreach (var split in Splits)
        {
            var list = bySplit[split];
            int pos = list.Count(r => r.Label), neg = list.Count - pos;
            if (list.Count == 0) continue;
            if (pos == 0 || neg == 0)
            {
                warning?.Invoke($"split {split.FileToken()}: {(pos == 0 ? "no tumour" : "no normal")} patches (its slides: {string.Join(", ", summaries.Where(x => x.Split == split).Select(x => x.Slide.Id))}); written unbalanced.");
                continue;
            }
            if (!options.Balance || pos == neg) continue;
            bool dropTumour = pos > neg;
            var larger = list.Where(r => r.Label == dropTumour).OrderBy(_ => random.Next()).Take(Math.Abs(pos - neg)).ToHashSet();
            bySplit[split] = list.Where(r => !larger.Contains(r)).ToList();
        }
        for (int s = 0; s < slides.Count; s++)
        {
            var kept = bySplit[summaries[s].Split].Where(r => r.SlideId == slides[s].Id).ToList();
            summaries[s] = summaries[s] with { Tumour = kept.Count(r => r.Label), Normal = kept.Count(r => !r.Label) };
        }
        if (bySplit[PCamSplit.Train].Count == 0)
            throw new PCamDataException("no patch for the train split: no tissue window found on its slides (check PatchSetOptions.MinTissueFraction, the slides and their annotations).");

        // 5. Spool, shuffle, write.
        Directory.CreateDirectory(outputDirectory);
        var staging = Path.Combine(outputDirectory, $".pcam-patches-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        var files = new List<string>();
        try
        {
            var order = new Dictionary<PCamSplit, List<PatchRecord>>();
            foreach (var split in Splits)
            {
                var list = bySplit[split];
                if (list.Count == 0) continue;
                var rows = WriteSplit(slides, list, split, staging, options, progress, new Random(HashCode.Combine(options.Seed, (int)split)), cancel);
                order[split] = rows;
                foreach (var d in new[] { 'x', 'y' })
                    files.Add(PCamChecksums.FileStem(split, d) + (options.Gzip ? ".h5.gz" : ".h5"));
            }
            WritePatchesCsv(Path.Combine(staging, "patches.csv"), order);
            files.Add("patches.csv");
            WriteDatasetJson(Path.Combine(staging, "dataset.json"), summaries, order, options);
            files.Add("dataset.json");
            // Everything is complete: replace the outputs. Stale files of a split this run does not write are removed,
            // so the folder never mixes two runs.
            foreach (var split in Splits.Where(s => !order.ContainsKey(s)))
                foreach (var d in new[] { 'x', 'y' })
                    foreach (var ext in new[] { ".h5", ".h5.gz" })
                        File.Delete(Path.Combine(outputDirectory, PCamChecksums.FileStem(split, d) + ext));
            foreach (var f in files)
            {
                var other = f.EndsWith(".h5.gz", StringComparison.Ordinal) ? f[..^3] : f.EndsWith(".h5", StringComparison.Ordinal) ? f + ".gz" : null;
                if (other != null) File.Delete(Path.Combine(outputDirectory, other)); // an old .h5 would shadow a new .h5.gz
                File.Move(Path.Combine(staging, f), Path.Combine(outputDirectory, f), overwrite: true);
            }
        }
        finally
        {
            try { Directory.Delete(staging, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        var counts = Splits.ToDictionary(s => s, s => (bySplit[s].Count(r => r.Label), bySplit[s].Count(r => !r.Label)));
        return new PatchSetResult(outputDirectory, summaries, counts, files.Select(f => Path.Combine(outputDirectory, f)).ToList());
    }

    /// <summary>FNV-1a of the id: a per-slide seed that does not change between runs (string.GetHashCode does).</summary>
    private static int StableHash(string s)
    {
        uint h = 2166136261;
        foreach (var c in s) { h ^= c; h *= 16777619; }
        return (int)h;
    }

    private static (List<PatchRecord>, int, int, int, int, string) Candidates(PatchSlide slide, SlideAnnotation annotation, PCamSplit split,
        PatchSetOptions options, Random random, CancellationToken cancel)
    {
        using var reader = SlideImage.Open(slide.Path);
        var sampling = WindowSampling.Choose(reader, options.TargetMicronsPerPixel, options.MicronsPerPixel);
        reader.SelectLevel(sampling.Level);
        var windows = new SlideWindows(reader, sampling, GridStride);
        var mask = TissueMask.Compute(reader, sampling.Level, cancel);
        var level = windows.Level;
        double pixel = sampling.Scale * level.DownsampleX;
        int r = sampling.RegionSize;
        var pos = new List<PatchRecord>();
        var neg = new List<PatchRecord>();
        int tissue = 0, ambiguous = 0;
        for (int j = 0; j < windows.GridHeight; j++)
        {
            cancel.ThrowIfCancellationRequested();
            for (int i = 0; i < windows.GridWidth; i++)
            {
                var (x, y) = windows.Origin(i, j);
                if (mask.Fraction(x, y, r, r) < options.MinTissueFraction) continue;
                tissue++;
                double minX = x * level.DownsampleX, minY = y * level.DownsampleY;
                var label = CentreLabel.Of(annotation, minX, minY, pixel, options.NegativeMargin);
                if (label.Label is null) { ambiguous++; continue; }
                var rec = new PatchRecord(slide.Id, split, i, j, (long)Math.Round(minX), (long)Math.Round(minY), label.Label.Value, label.Fraction);
                (label.Label.Value ? pos : neg).Add(rec);
            }
        }
        int cap = options.MaxPerSlide;
        int takePos = Math.Min(pos.Count, Math.Max(cap / 2, cap - neg.Count));
        int takeNeg = Math.Min(neg.Count, cap - takePos);
        var records = Sample(pos, takePos, random).Concat(Sample(neg, takeNeg, random)).ToList();
        return (records, tissue, pos.Count, neg.Count, ambiguous, sampling.ToString());
    }

    /// <summary>A seeded sample without replacement (partial Fisher-Yates).</summary>
    private static IEnumerable<T> Sample<T>(List<T> items, int count, Random random)
    {
        var a = items.ToArray();
        for (int k = 0; k < count; k++)
        {
            int m = random.Next(k, a.Length);
            (a[k], a[m]) = (a[m], a[k]);
        }
        return a.Take(count);
    }

    /// <summary>Reads the split's patches slide by slide, top to bottom, into a spool file, then writes them in a
    /// shuffled order; returns the records in file-row order.</summary>
    private static List<PatchRecord> WriteSplit(IReadOnlyList<PatchSlide> slides, List<PatchRecord> records, PCamSplit split, string staging,
        PatchSetOptions options, IProgress<(string Stage, long Done, long Total)>? progress, Random random, CancellationToken cancel)
    {
        var spoolPath = Path.Combine(staging, $"{split.FileToken()}.spool");
        var spooled = new List<PatchRecord>(records.Count);
        var window = new byte[PatchSchema.ImageBytes];
        using (var spool = new FileStream(spoolPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
        {
            foreach (var slide in slides)
            {
                var mine = records.Where(r => r.SlideId == slide.Id).OrderBy(r => r.J).ThenBy(r => r.I).ToList();
                if (mine.Count == 0) continue;
                using var reader = SlideImage.Open(slide.Path);
                var sampling = WindowSampling.Choose(reader, options.TargetMicronsPerPixel, options.MicronsPerPixel);
                reader.SelectLevel(sampling.Level);
                var windows = new SlideWindows(reader, sampling, GridStride);
                foreach (var rec in mine)
                {
                    cancel.ThrowIfCancellationRequested();
                    windows.Evict(windows.Origin(rec.I, rec.J).Y);
                    windows.Read(rec.I, rec.J, window);
                    spool.Write(window);
                    spooled.Add(rec);
                    if (spooled.Count % 256 == 0) progress?.Report(($"read {split.FileToken()}", spooled.Count, records.Count));
                }
                windows.Evict(int.MaxValue);
            }
        }
        var permutation = Enumerable.Range(0, spooled.Count).ToArray();
        random.Shuffle(permutation);
        var x = Path.Combine(staging, PCamChecksums.FileStem(split, 'x') + ".h5");
        var y = Path.Combine(staging, PCamChecksums.FileStem(split, 'y') + ".h5");
        using (var source = new SpoolSource(spoolPath, permutation, permutation.Select(k => spooled[k].Label).ToArray()))
            PCamImporter.Write(source, x, y, new Hdf5WriteOptions(), progress);
        File.Delete(spoolPath);
        if (options.Gzip)
            foreach (var f in new[] { x, y })
            {
                progress?.Report(($"gzip {Path.GetFileName(f)}", 0, 1));
                using (var input = File.OpenRead(f))
                using (var output = File.Create(f + ".gz"))
                using (var gz = new GZipStream(output, CompressionLevel.Optimal))
                    input.CopyTo(gz);
                File.Delete(f);
            }
        return permutation.Select(k => spooled[k]).ToList();
    }

    /// <summary>The spool read in a given row order.</summary>
    private sealed class SpoolSource(string path, int[] order, bool[] labels) : IPatchSource
    {
        private readonly FileStream _file = File.OpenRead(path);
        public string Description => path;
        public long RowCount => order.Length;
        public void ReadImages(long row, int count, Span<byte> destination)
        {
            for (int k = 0; k < count; k++)
            {
                _file.Position = (long)order[row + k] * PatchSchema.ImageBytes;
                _file.ReadExactly(destination.Slice(k * PatchSchema.ImageBytes, PatchSchema.ImageBytes));
            }
        }
        public bool GetLabel(long row) => labels[row];
        public long GetIndex(long row) => row;
        public string? GetPath(long row) => null;
        public void Dispose() => _file.Dispose();
    }

    private static void WritePatchesCsv(string path, Dictionary<PCamSplit, List<PatchRecord>> order)
    {
        var sb = new StringBuilder("slide_id,minx,miny,label,split,tumour_fraction,row\n");
        foreach (var (split, rows) in order)
            for (int k = 0; k < rows.Count; k++)
            {
                var r = rows[k];
                sb.Append(CultureInfo.InvariantCulture, $"{Csv(r.SlideId)},{r.MinX},{r.MinY},{(r.Label ? 1 : 0)},{split.FileToken()},{r.TumourFraction:0.##########},{k}\n");
            }
        File.WriteAllText(path, sb.ToString());
    }

    private static string Csv(string s) => s.IndexOfAny([',', '"', '\n', '\r']) < 0 ? s : "\"" + s.Replace("\"", "\"\"") + "\"";

    private static void WriteDatasetJson(string path, SlidePatches[] slides, Dictionary<PCamSplit, List<PatchRecord>> order, PatchSetOptions options)
    {
        var splits = new JsonObject();
        foreach (var (split, rows) in order)
            splits[split.FileToken()] = new JsonObject
            {
                ["patches"] = rows.Count, ["tumour"] = rows.Count(r => r.Label), ["normal"] = rows.Count(r => !r.Label),
                ["slides"] = new JsonArray(slides.Where(s => s.Split == split).Select(s => (JsonNode)s.Slide.Id).ToArray()),
            };
        var json = new JsonObject
        {
            ["description"] = "PCam-style patches cut from annotated whole-slide images by `pcam patches`: official layout camelyonpatch_level_2_split_{train,valid,test}_{x,y}.h5, x (N,96,96,3) uint8 RGB, y (N,1,1,1) uint8.",
            ["created_utc"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            ["label_rule"] = "96x96 windows at the target um/px; a window pixel is tumour when its centre lies in a tumour polygon (holes and exclusions removed); label 1 when at least one of the centre 32x32 pixels is tumour" +
                             (options.NegativeMargin > 0 ? $"; label 0 only when the centre grown by {options.NegativeMargin} px on each side has no tumour (else skipped)" : "; otherwise 0"),
            ["settings"] = new JsonObject
            {
                ["seed"] = options.Seed, ["max_per_slide"] = options.MaxPerSlide,
                ["split"] = new JsonArray(options.Split.Select(v => (JsonNode)v).ToArray()),
                ["positive_class"] = options.Annotations.PositiveClass,
                ["exclusion_classes"] = new JsonArray(options.Annotations.ExclusionClasses.Select(v => (JsonNode)v).ToArray()),
                ["negative_margin_px"] = options.NegativeMargin, ["min_tissue"] = options.MinTissueFraction, ["balance"] = options.Balance,
                ["target_um_per_px"] = options.TargetMicronsPerPixel, ["grid_stride_px"] = GridStride, ["gzip"] = options.Gzip,
            },
            ["splits"] = splits,
            ["slides"] = new JsonArray(slides.Select(s => (JsonNode)new JsonObject
            {
                ["slide_id"] = s.Slide.Id, ["path"] = Path.GetFullPath(s.Slide.Path),
                ["annotation"] = s.Slide.AnnotationPath is null ? null : Path.GetFullPath(s.Slide.AnnotationPath),
                ["split"] = s.Split.FileToken(), ["tumour_slide"] = s.IsTumourSlide, ["sampling"] = s.Sampling,
                ["tissue_windows"] = s.TissueWindows, ["tumour_candidates"] = s.TumourCandidates, ["normal_candidates"] = s.NormalCandidates,
                ["ambiguous_skipped"] = s.AmbiguousSkipped, ["tumour"] = s.Tumour, ["normal"] = s.Normal,
            }).ToArray()),
        };
        File.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}
