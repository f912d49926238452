using System.CommandLine;
using PCam.MLNet.Data;
using PCam.MLNet.Training;
using PCam.MLNet.Featurization;

namespace PCam.Cli.Commands;

/// <summary>Parses "train,valid,test" (or "all") into splits; a bad name is an error naming it.</summary>
internal static class SplitList
{
    public static PCamSplit[] Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || text == "all") return [PCamSplit.Train, PCamSplit.Valid, PCamSplit.Test];
        return text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => s.ToLowerInvariant() switch
        {
            "train" => PCamSplit.Train,
            "valid" or "validation" => PCamSplit.Valid,
            "test" => PCamSplit.Test,
            _ => throw new ArgumentException($"--splits: unknown split '{s}' (use train, valid, test or all)."),
        }).Distinct().ToArray();
    }
}

internal sealed class DownloadCommand : ICommandFactory
{
    public Command Create(CliContext cli)
    {
        var output = new Option<string>("--output") { Description = "Folder for the .h5.gz files.", DefaultValueFactory = _ => PCamTrainer.DefaultDataDirectory };
        var splits = new Option<string>("--splits") { Description = "Comma-separated splits: train, valid, test, or all.", DefaultValueFactory = _ => "all" };
        var mirror = new Option<string?>("--mirror") { Description = "Base URL serving the same file names (default: the official Zenodo record)." };
        var cmd = new Command("download", "Download the official PCam files (resumable, MD5-verified; about 7.5 GB for all splits).") { output, splits, mirror };
        cli.Bind(cmd, (parse, log) =>
        {
            var dir = parse.GetValue(output)!;
            var options = new PCamDownloadOptions
            {
                Mirror = parse.GetValue(mirror),
                Warning = log.Warning,
                Progress = new SyncProgress<DownloadProgress>(p => log.Status(
                    $"{p.File}  {p.Bytes / 1e6:F1}{(p.Total is { } t ? $"/{t / 1e6:F1}" : "")} MB  {p.MegabytesPerSecond:F1} MB/s" +
                    (p.Eta is { } eta ? $"  ETA {eta:hh\\:mm\\:ss}" : ""))),
            };
            var list = SplitList.Parse(parse.GetValue(splits));
            PCamDownloader.DownloadSplitsAsync(dir, list, options).GetAwaiter().GetResult();
            log.EndStatus();
            foreach (var s in list)
                foreach (var name in PCamDownloader.FileNames(s)) cli.Out.WriteLine($"ok  {Path.Combine(dir, name)}");
            return 0;
        });
        return cmd;
    }
}

internal sealed class VerifyCommand : ICommandFactory
{
    public Command Create(CliContext cli)
    {
        var dir = new Argument<string>("directory") { Description = "Folder with PCam data (official files, image folders or Kaggle layout)." };
        var splits = new Option<string>("--splits") { Description = "Comma-separated splits to check (default: those present).", DefaultValueFactory = _ => "all" };
        var cache = new Option<string?>("--cache-dir") { Description = $"Where .h5.gz files are decompressed (default: {PCamDataOptions.DefaultCacheFolder} beside them)." };
        var noVerify = DataOptions.NoVerify();
        var cmd = new Command("verify", "Check layout, shapes, dtypes, labels and MD5 checksums of the PCam files in a folder.") { dir, splits, cache, noVerify };
        cli.Bind(cmd, (parse, log) =>
        {
            var d = parse.GetValue(dir)!;
            if (!Directory.Exists(d)) throw new PCamDataException($"{d}: directory not found.");
            var kind = PCamData.Detect(d);
            if (kind == PatchSourceKind.None) throw new PCamDataException($"{d}: no PCam data found.");
            var explicitSplits = parse.GetValue(splits) is { } s && s != "all";
            var failures = 0;
            using var progress = new StageProgress(log);
            cli.Out.WriteLine($"{d}: {kind}");
            foreach (var split in SplitList.Parse(parse.GetValue(splits)))
            {
                if (!PCamData.HasSplit(d, split))
                {
                    cli.Out.WriteLine($"  {split.FileToken(),-5}  missing");
                    if (explicitSplits) failures++;
                    continue;
                }
                try
                {
                    using var view = PCamData.Open(d, split, new PCamDataOptions
                    {
                        CacheDirectory = parse.GetValue(cache), VerifyChecksums = !parse.GetValue(noVerify), CreateCacheForStamps = false,
                        Progress = progress, Warning = log.Warning,
                    });
                    long positives = 0;
                    for (long r = 0; r < view.Source.RowCount; r++) if (view.Source.GetLabel(r)) positives++;
                    var mode = view.Source is Hdf5PatchSource h ? $", x read {h.ReadMode}" : "";
                    cli.Out.WriteLine($"  {split.FileToken(),-5}  ok  {view.Source.RowCount:N0} rows ({positives:N0} tumour){mode}");
                }
                catch (PCamDataException e)
                {
                    cli.Out.WriteLine($"  {split.FileToken(),-5}  FAILED");
                    cli.Err.WriteLine($"error: {FlagNames.Apply(e.Message)}");
                    failures++;
                }
            }
            return failures == 0 ? 0 : 1;
        });
        return cmd;
    }
}

internal sealed class ImportCommand : ICommandFactory
{
    public Command Create(CliContext cli)
    {
        var from = new Option<string>("--from") { Description = "Source folder: image folders, Kaggle layout or official files.", Required = true };
        from.MustBeFolder("source folder");
        var output = new Option<string>("--output") { Description = "Folder for the official-layout .h5 files.", Required = true };
        var splits = new Option<string>("--splits") { Description = "Comma-separated splits to import (default: those present).", DefaultValueFactory = _ => "all" };
        var chunked = new Option<bool>("--chunked") { Description = "Write `x` chunked (64 rows per chunk) instead of contiguous." };
        var deflate = new Option<int>("--deflate") { Description = "Deflate level for chunked `x`: 0 (none), 1 or 9.", DefaultValueFactory = _ => 0 };
        var noVerify = DataOptions.NoVerify();
        var cmd = new Command("import", "Write image folders or the Kaggle layout as official-layout PCam HDF5 files (x, y).") { from, output, splits, chunked, deflate, noVerify };
        cli.Bind(cmd, (parse, log) =>
        {
            var src = parse.GetValue(from)!;
            var dst = parse.GetValue(output)!;
            if (PCamData.Detect(src) == PatchSourceKind.None) throw new PCamDataException($"{src}: no PCam data found.");
            var level = parse.GetValue(deflate);
            if (level != 0 && !parse.GetValue(chunked)) throw new ArgumentException("--deflate needs --chunked (HDF5 compresses chunked datasets only).");
            Directory.CreateDirectory(dst);
            var written = 0;
            using var progress = new StageProgress(log);
            foreach (var split in SplitList.Parse(parse.GetValue(splits)).Where(s => PCamData.HasSplit(src, s)))
            {
                using var view = PCamData.Open(src, split, new PCamDataOptions { Progress = progress, Warning = log.Warning, VerifyChecksums = !parse.GetValue(noVerify) });
                var x = Path.Combine(dst, PCamChecksums.FileStem(split, 'x') + ".h5");
                var y = Path.Combine(dst, PCamChecksums.FileStem(split, 'y') + ".h5");
                PCamImporter.Write(view, x, y, new Hdf5WriteOptions { Chunked = parse.GetValue(chunked), DeflateLevel = level }, progress);
                cli.Out.WriteLine($"{split.FileToken(),-5}  {view.GetRowCount():N0} rows -> {x}, {y}");
                written++;
            }
            if (written == 0) throw new PCamDataException($"{src}: none of the requested splits is present.");
            return 0;
        });
        return cmd;
    }
}

/// <summary>IProgress that reports on the calling thread (Progress&lt;T&gt; would post to the thread pool).</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
