using System.Security.Cryptography;
using System.Text;
using Microsoft.ML;
using PCam.MLNet.Data;

namespace PCam.MLNet.Featurization;

/// <summary>
/// Bottleneck features of a split, computed once and kept in ML.NET's binary IDataView format, keyed by the data's
/// identity and the featurizer graph's fingerprint (backbone, preprocessing, image size, TTA). Files appear only
/// complete: written to a temp name and renamed, so an interrupted run recomputes and never reads a partial file.
/// </summary>
public sealed class FeatureCache(MLContext ml, string directory)
{
    public string Directory { get; } = directory;

    public string PathFor(PatchDataView data, FeaturizerGraph graph, string split) =>
        Path.Combine(Directory, $"{split}-{Key(data, graph)[..20]}.idv");

    /// <summary>Loads the cached features, computing them first when absent. onRows reports progress (rows done).</summary>
    public IDataView GetOrCompute(PatchDataView data, FeaturizerGraph graph, Func<BatchFeaturizer> featurizer, int batchSize,
        string split, Action<long>? onRows, out bool computed)
    {
        var path = PathFor(data, graph, split);
        computed = !File.Exists(path);
        if (computed)
        {
            System.IO.Directory.CreateDirectory(Directory);
            var tmp = $"{path}.{Environment.ProcessId}.tmp";
            try
            {
                FeatureTable view;
                using (var f = featurizer()) view = FeatureTable.Compute(data, f, batchSize, onRows);
                using (var stream = File.Create(tmp))
                    ml.Data.SaveAsBinary(view, stream, keepHidden: false);
                TestHooks.Reached("features");
                File.Move(tmp, path, overwrite: true);
            }
            finally
            {
                if (File.Exists(tmp)) File.Delete(tmp);
            }
        }
        return new CacheFileView(ml, path);
    }

    /// <summary>Identity of (data rows, graph): source path, size and modification time, row subset, graph fingerprint.</summary>
    public static string Key(PatchDataView data, FeaturizerGraph graph)
    {
        var sb = new StringBuilder();
        sb.Append(data.Source.Description).Append('|').Append(data.Source.RowCount).Append('|');
        var p = data.Source.Description;
        if (File.Exists(p)) { var fi = new FileInfo(p); sb.Append(fi.Length).Append('|').Append(fi.LastWriteTimeUtc.Ticks); }
        else if (System.IO.Directory.Exists(p)) sb.Append(System.IO.Directory.GetLastWriteTimeUtc(p).Ticks);
        sb.Append('|');
        if (data.Rows is { } rows)
        {
            using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            Span<byte> buf = stackalloc byte[8];
            foreach (var r in rows) { BitConverter.TryWriteBytes(buf, r); h.AppendData(buf); }
            sb.Append(Convert.ToHexString(h.GetHashAndReset()));
        }
        sb.Append('|').Append(graph.Fingerprint);
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString()))).ToLowerInvariant();
    }
}
