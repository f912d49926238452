using PureHDF;
using PureHDF.VOL.Native;

namespace PCam.MLNet.Data;

/// <summary>
/// An official-layout HDF5 pair: `x` (N,96,96,3) uint8 and `y` (N,1,1,1) or (N,) uint8 0/1.
/// Labels are read whole at open; pixels on demand (positional file reads when `x` is contiguous,
/// chunk-aligned PureHDF reads with a small cache when chunked).
/// </summary>
public sealed class Hdf5PatchSource : IPatchSource
{
    private readonly NativeFile _xFile;
    private readonly IImageRowReader _reader;
    private readonly bool[] _labels;

    public string Description { get; }
    public string XPath { get; }
    public string YPath { get; }
    public long RowCount => _labels.Length;
    /// <summary>How pixels are read ("contiguous@offset", "chunked ...", ...).</summary>
    public string ReadMode => _reader.Mode;

    private Hdf5PatchSource(string xPath, string yPath, NativeFile xFile, IImageRowReader reader, bool[] labels)
    {
        XPath = xPath;
        YPath = yPath;
        _xFile = xFile;
        _reader = reader;
        _labels = labels;
        Description = xPath;
    }

    /// <summary>Opens and validates an `x`/`y` pair of uncompressed `.h5` files.</summary>
    public static Hdf5PatchSource Open(string xPath, string yPath) => Open(xPath, yPath, ReadLabels(yPath));

    /// <summary>Opens an `x` file alone (for prediction): every label reads as false.</summary>
    public static Hdf5PatchSource OpenImages(string xPath) => Open(xPath, "", null);

    private static Hdf5PatchSource Open(string xPath, string yPath, bool[]? knownLabels)
    {
        var xFile = Hdf5Validation.Open(xPath);
        try
        {
            var ds = Hdf5Validation.Dataset(xFile, xPath, "x", "(N,96,96,3)", Hdf5Validation.IsImageShape);
            long rows = (long)ds.Space.Dimensions[0];
            var labels = knownLabels ?? new bool[rows];
            if (rows != labels.Length)
                throw new PCamDataException($"{xPath}: dataset 'x' has {rows:N0} rows but {yPath}: dataset 'y' has {labels.Length:N0}; they must match");
            var reader = rows == 0 ? new BlockRowReader(xFile, ds, rows, 1, "empty") : CreateReader(xPath, xFile, ds, rows);
            return new Hdf5PatchSource(xPath, yPath, xFile, reader, labels);
        }
        catch
        {
            xFile.Dispose();
            throw;
        }
    }

    private static IImageRowReader CreateReader(string xPath, NativeFile xFile, IH5Dataset ds, long rows)
    {
        // Layout.Chunks throws on non-chunked datasets: look at the class first.
        var layout = ds.Layout.Class;
        try
        {
            switch (layout)
            {
                case H5DataLayoutClass.Contiguous:
                    var fast = ContiguousRowReader.TryCreate(xPath, ds, rows, Hdf5Validation.FindSuperblock(xPath));
                    return (IImageRowReader?)fast ?? new BlockRowReader(xFile, ds, rows, 256, "contiguous via PureHDF (offset not found: slow)");
                case H5DataLayoutClass.Chunked:
                    var chunks = ds.Layout.Chunks;
                    return new BlockRowReader(xFile, ds, rows, chunks.Length > 0 ? (long)chunks[0] : 256, $"chunked ({string.Join("x", chunks)})");
                default:
                    return new BlockRowReader(xFile, ds, rows, rows, layout.ToString().ToLowerInvariant());
            }
        }
        catch (Exception e) when (e is not PCamDataException)
        {
            throw new PCamDataException($"{xPath}: dataset 'x' cannot be read ({e.Message}); the file may be truncated or damaged", e);
        }
    }

    internal static bool[] ReadLabels(string yPath)
    {
        using var yFile = Hdf5Validation.Open(yPath);
        var ds = Hdf5Validation.Dataset(yFile, yPath, "y", "(N,1,1,1) or (N,)", Hdf5Validation.IsLabelShape);
        byte[] raw;
        try { raw = ds.Read<byte[]>(); }
        catch (Exception e) { throw new PCamDataException($"{yPath}: dataset 'y' cannot be read ({e.Message}); the file may be truncated or damaged", e); }
        var labels = new bool[raw.Length];
        for (int i = 0; i < raw.Length; i++)
        {
            if (raw[i] > 1) throw new PCamDataException($"{yPath}: dataset 'y': expected labels 0 or 1, found {raw[i]} at row {i}");
            labels[i] = raw[i] == 1;
        }
        return labels;
    }

    public void ReadImages(long row, int count, Span<byte> destination)
    {
        if (row < 0 || count < 0 || row + count > RowCount) throw new ArgumentOutOfRangeException(nameof(row), $"rows {row}..{row + count - 1} outside 0..{RowCount - 1}");
        if (destination.Length < (long)count * PatchSchema.ImageBytes) throw new ArgumentException("destination too small", nameof(destination));
        if (count > 0) _reader.Read(row, count, destination);
    }

    public bool GetLabel(long row) => _labels[row];
    public long GetIndex(long row) => row;
    public string? GetPath(long row) => null;

    public void Dispose()
    {
        _reader.Dispose();
        _xFile.Dispose();
    }
}
