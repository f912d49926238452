using Microsoft.ML.Data;
using PureHDF;
using PureHDF.Filters;
using PureHDF.Selections;
using PureHDF.VOL.Native;

namespace PCam.MLNet.Data;

/// <summary>How <see cref="PCamImporter"/> lays out `x`.</summary>
public sealed record Hdf5WriteOptions
{
    /// <summary>Chunked `x` (required for compression); false = one contiguous block, the fast layout to read.</summary>
    public bool Chunked { get; init; }
    /// <summary>Deflate level for chunked `x`: 0 = none; PureHDF 2.2 supports only 1 (fast) and 9 (best).</summary>
    public int DeflateLevel { get; init; }
    /// <summary>Rows per chunk.</summary>
    public int ChunkRows { get; init; } = 64;
}

/// <summary>Writes patches in the official PCam layout: `x` (N,96,96,3) uint8, `y` (N,1,1,1) uint8.</summary>
public static class PCamImporter
{
    public static void Write(IPatchSource source, string xPath, string yPath, Hdf5WriteOptions? options = null,
        IProgress<(string Stage, long Done, long Total)>? progress = null)
    {
        using var view = PatchDataView.Borrow(source);
        Write(view, xPath, yPath, options, progress);
    }

    /// <summary>Writes the rows of the view, in view order. Each file is written to a temp name and renamed when complete.</summary>
    public static void Write(PatchDataView view, string xPath, string yPath, Hdf5WriteOptions? options = null,
        IProgress<(string Stage, long Done, long Total)>? progress = null)
    {
        options ??= new Hdf5WriteOptions();
        if (options.DeflateLevel is not (0 or 1 or 9))
            throw new ArgumentException("PureHDF supports deflate levels 0 (off), 1 and 9 only", nameof(options));
        if (options.DeflateLevel != 0 && !options.Chunked)
            throw new ArgumentException("Deflate needs a chunked layout (Chunked = true)", nameof(options));
        if (options.ChunkRows < 1) throw new ArgumentException("ChunkRows must be positive", nameof(options));
        long n = view.GetRowCount() ?? 0;
        if (n == 0) throw new ArgumentException("nothing to write: the view has no rows", nameof(view));

        var xTmp = TempName(xPath);
        var yTmp = TempName(yPath);
        try
        {
            var labels = new byte[n];
            WriteImages(view, xTmp, n, options, labels, progress);
            var yFile = new H5File { ["y"] = new H5Dataset(labels, fileDims: [(ulong)n, 1, 1, 1]) };
            yFile.Write(yTmp);
            File.Move(xTmp, xPath, overwrite: true);
            File.Move(yTmp, yPath, overwrite: true);
        }
        finally
        {
            if (File.Exists(xTmp)) File.Delete(xTmp);
            if (File.Exists(yTmp)) File.Delete(yTmp);
        }
    }

    private static string TempName(string path)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        return $"{full}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
    }

    private static void WriteImages(PatchDataView view, string xTmp, long n, Hdf5WriteOptions options, byte[] labels,
        IProgress<(string Stage, long Done, long Total)>? progress)
    {
        ulong[] dims = [(ulong)n, PatchSchema.Height, PatchSchema.Width, PatchSchema.Channels];
        H5Dataset<byte[]> x;
        if (options.Chunked)
        {
            uint chunkRows = (uint)Math.Min(options.ChunkRows, n);
            var filters = options.DeflateLevel == 0 ? new List<H5Filter>()
                : [new H5Filter(DeflateFilter.Id, new Dictionary<string, object> { [DeflateFilter.COMPRESSION_LEVEL] = options.DeflateLevel })];
            x = new H5Dataset<byte[]>(dims, [chunkRows, PatchSchema.Height, PatchSchema.Width, PatchSchema.Channels],
                new H5DatasetCreation(Filters: filters));
        }
        else x = new H5Dataset<byte[]>(dims);

        var file = new H5File { ["x"] = x };
        if (!options.Chunked && TryWriteContiguousDirect(view, file, xTmp, n, labels, progress)) return;
        // Whole chunks per write keep PureHDF's chunk cache small; 256 rows otherwise.
        int batch = options.Chunked ? options.ChunkRows * Math.Max(1, 256 / options.ChunkRows) : 256;
        var buffer = new byte[(long)batch * PatchSchema.ImageBytes];
        // PureHDF's hyperslab writes go element by element (~60 rows/s); fine for chunked test files only.
        using var writer = file.BeginWrite(xTmp);
        CopyInBatches(view, batch, labels, n, progress, (pixels, start, rows) =>
            writer.Write(x, rows == batch ? buffer : pixels.ToArray(),
                fileSelection: new HyperslabSelection(4, [(ulong)start, 0, 0, 0], [(ulong)rows, PatchSchema.Height, PatchSchema.Width, PatchSchema.Channels])),
            buffer);
    }

    private delegate void BatchWriter(ReadOnlySpan<byte> pixels, long startRow, int rows);

    /// <summary>Streams the view's rows into <paramref name="buffer"/> a batch at a time, collecting labels as it goes.</summary>
    private static void CopyInBatches(PatchDataView view, int batch, byte[] labels, long n,
        IProgress<(string Stage, long Done, long Total)>? progress, BatchWriter write, byte[] buffer)
    {
        using var cursor = view.GetRowCursor(view.Schema);
        var image = cursor.GetGetter<VBuffer<byte>>(view.Schema[PatchSchema.ImageColumn]);
        var label = cursor.GetGetter<bool>(view.Schema[PatchSchema.LabelColumn]);
        VBuffer<byte> pixels = default;
        bool isPositive = false;
        long start = 0;
        int filled = 0;
        while (cursor.MoveNext())
        {
            image(ref pixels);
            label(ref isPositive);
            pixels.GetValues().CopyTo(buffer.AsSpan(filled * PatchSchema.ImageBytes, PatchSchema.ImageBytes));
            labels[cursor.Position] = isPositive ? (byte)1 : (byte)0;
            if (++filled == batch || cursor.Position == n - 1)
            {
                write(buffer.AsSpan(0, filled * PatchSchema.ImageBytes), start, filled);
                start += filled;
                filled = 0;
                progress?.Report(("write x", start, n));
            }
        }
    }

    /// <summary>
    /// Fast contiguous write: PureHDF lays out the file and reserves the data block (nothing written through it),
    /// then pixels go straight to the block's file offset with positional writes.
    /// </summary>
    private static bool TryWriteContiguousDirect(PatchDataView view, H5File file, string xTmp, long n, byte[] labels,
        IProgress<(string Stage, long Done, long Total)>? progress)
    {
        using (file.BeginWrite(xTmp)) { }
        long offset;
        using (var check = H5File.OpenRead(xTmp))
        {
            var ds = check.Dataset("x");
            if (ds.Layout.Class != H5DataLayoutClass.Contiguous || ContiguousRowReader.LayoutAddress(ds) is not long address) return false;
            offset = Hdf5Validation.FindSuperblock(xTmp) + address;
        }
        using var handle = File.OpenHandle(xTmp, FileMode.Open, FileAccess.ReadWrite);
        if (offset + n * PatchSchema.ImageBytes > RandomAccess.GetLength(handle)) return false;
        const int batch = 256;
        CopyInBatches(view, batch, labels, n, progress,
            (pixels, start, _) => RandomAccess.Write(handle, pixels, offset + start * PatchSchema.ImageBytes),
            new byte[batch * PatchSchema.ImageBytes]);
        RandomAccess.FlushToDisk(handle);
        return true;
    }
}
