using PureHDF;
using PureHDF.VOL.Native;

namespace PCam.MLNet.Data;

/// <summary>Opens HDF5 files with PureHDF and checks the official layout; every violation is a PCamDataException.</summary>
internal static class Hdf5Validation
{
    private static readonly byte[] Signature = [0x89, (byte)'H', (byte)'D', (byte)'F', 0x0d, 0x0a, 0x1a, 0x0a];

    /// <summary>Offset of the HDF5 superblock (0, 512, 1024, ...: a user block may precede it), or -1.</summary>
    public static long FindSuperblock(string path)
    {
        using var handle = File.OpenHandle(path);
        long length = RandomAccess.GetLength(handle);
        Span<byte> head = stackalloc byte[8];
        for (long at = 0; at + 8 <= length; at = at == 0 ? 512 : at * 2)
        {
            if (RandomAccess.Read(handle, head, at) == 8 && head.SequenceEqual(Signature)) return at;
        }
        return -1;
    }

    public static NativeFile Open(string path)
    {
        if (!File.Exists(path)) throw new PCamDataException($"{path}: file not found");
        if (FindSuperblock(path) < 0)
        {
            using var fs = File.OpenRead(path);
            bool gz = fs.Length >= 2 && fs.ReadByte() == 0x1f && fs.ReadByte() == 0x8b;
            throw new PCamDataException(gz
                ? $"{path}: not an HDF5 file: it is gzip-compressed (name it .h5.gz so it is decompressed first)"
                : $"{path}: not an HDF5 file (no HDF5 signature; {new FileInfo(path).Length:N0} bytes)");
        }
        try { return H5File.OpenRead(path); }
        catch (Exception e)
        {
            throw new PCamDataException($"{path}: damaged or truncated HDF5 file ({e.Message})", e);
        }
    }

    /// <summary>The dataset <paramref name="name"/>, checked to be uint8 with the given trailing dimensions.</summary>
    public static IH5Dataset Dataset(NativeFile file, string path, string name, string expectedShape, Func<ulong[], bool> shapeOk)
    {
        IH5Dataset ds;
        try
        {
            if (!file.LinkExists(name)) throw new KeyNotFoundException();
            ds = file.Dataset(name);
        }
        catch (Exception e) when (e is not PCamDataException)
        {
            string found;
            try { found = string.Join(", ", file.Children().Select(c => c.Name)); }
            catch (Exception) { found = "?"; }
            throw new PCamDataException($"{path}: expected a dataset named '{name}' {expectedShape} uint8, found [{found}]", e);
        }
        ulong[] dims;
        try { dims = ds.Space.Dimensions; }
        catch (Exception e) { throw new PCamDataException($"{path}: dataset '{name}': unreadable dataspace ({e.Message})", e); }
        if (!shapeOk(dims))
            throw new PCamDataException($"{path}: dataset '{name}': expected shape {expectedShape}, found ({string.Join(",", dims)})");
        var t = ds.Type;
        bool isUint8 = t.Class == H5DataTypeClass.FixedPoint && t.Size == 1 && t.FixedPoint is { IsSigned: false };
        if (!isUint8)
        {
            var signed = t.Class == H5DataTypeClass.FixedPoint && t.FixedPoint is { IsSigned: true } ? " signed" : "";
            throw new PCamDataException($"{path}: dataset '{name}': expected dtype uint8, found {t.Class}{signed} of {t.Size} byte(s)");
        }
        return ds;
    }

    public static bool IsImageShape(ulong[] d) => d.Length == 4 && d[1] == PatchSchema.Height && d[2] == PatchSchema.Width && d[3] == PatchSchema.Channels;
    public static bool IsLabelShape(ulong[] d) => d.Length == 1 || (d.Length == 4 && d[1] == 1 && d[2] == 1 && d[3] == 1);
}
