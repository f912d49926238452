using System.Reflection;
using Microsoft.Win32.SafeHandles;
using PureHDF;
using PureHDF.Selections;
using PureHDF.VOL.Native;

namespace PCam.MLNet.Data;

/// <summary>Reads consecutive image rows of an `x` dataset; must be safe for concurrent callers.</summary>
internal interface IImageRowReader : IDisposable
{
    /// <summary>How the rows are read, for messages and benchmarks.</summary>
    string Mode { get; }
    void Read(long row, int count, Span<byte> destination);
}

/// <summary>
/// Contiguous `x`: the pixels are one flat run of N*27648 bytes in the file, so rows are read with
/// positional reads (RandomAccess.Read: no shared file position, so concurrent cursors need no lock).
/// PureHDF's own hyperslab reads of 4-D uint8 are ~100x slower.
/// </summary>
internal sealed class ContiguousRowReader : IImageRowReader
{
    private readonly SafeFileHandle _handle;
    private readonly long _offset;
    private readonly string _path;
    public string Mode => $"contiguous@{_offset}";
    public long DataOffset => _offset;

    private ContiguousRowReader(SafeFileHandle handle, long offset, string path) { _handle = handle; _offset = offset; _path = path; }

    /// <summary>Finds the data offset (PureHDF's layout message via reflection, else a scan for the first image) and
    /// verifies it against PureHDF's read of the first and last rows. Returns null when it cannot be established.</summary>
    public static ContiguousRowReader? TryCreate(string path, IH5Dataset ds, long rows, long superblock)
    {
        var first = ReadRowWithPureHdf(ds, 0);
        var last = ReadRowWithPureHdf(ds, rows - 1);
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        try
        {
            long length = RandomAccess.GetLength(handle);
            var candidates = new List<long>();
            if (LayoutAddress(ds) is long address)
            {
                candidates.Add(superblock + address); // addresses are relative to the superblock
                if (superblock != 0) candidates.Add(address);
            }
            foreach (var pass in new Func<List<long>>[] { () => candidates, () => ScanFor(handle, first, length) })
            {
                foreach (var offset in pass())
                {
                    if (offset < 0) continue;
                    if (offset + rows * PatchSchema.ImageBytes > length)
                        throw new PCamDataException($"{path}: truncated: dataset 'x' needs {rows * PatchSchema.ImageBytes:N0} bytes at offset {offset:N0}, the file has {length:N0}");
                    if (Matches(handle, offset, first) && Matches(handle, offset + (rows - 1) * PatchSchema.ImageBytes, last))
                        return new ContiguousRowReader(handle, offset, path);
                }
            }
        }
        catch
        {
            handle.Dispose();
            throw;
        }
        handle.Dispose();
        return null;
    }

    private static bool Matches(SafeFileHandle h, long offset, byte[] expected)
    {
        var buf = new byte[expected.Length];
        return ReadFully(h, buf, offset) == buf.Length && buf.AsSpan().SequenceEqual(expected);
    }

    /// <summary>PureHDF keeps the contiguous address in internal layout messages (v1-2: Address; v3-4: Properties.Address).</summary>
    internal static long? LayoutAddress(IH5Dataset ds)
    {
        try
        {
            const BindingFlags all = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
            var msg = ds.GetType().GetProperty("InternalDataLayout", all)?.GetValue(ds);
            if (msg == null) return null;
            var holder = msg.GetType().GetProperty("Properties", all)?.GetValue(msg) ?? msg;
            if (holder.GetType().GetProperty("Address", all)?.GetValue(holder) is ulong a && a != ulong.MaxValue) return (long)a;
        }
        catch (Exception) { } // internals changed: fall back to the scan
        return null;
    }

    /// <summary>Fallback: positions where the first image's bytes occur (the verify step rejects false hits).</summary>
    private static List<long> ScanFor(SafeFileHandle h, byte[] pattern, long length)
    {
        const int window = 8 << 20;
        var hits = new List<long>();
        var buf = new byte[window + pattern.Length];
        for (long pos = 0; pos < length; pos += window)
        {
            int n = ReadFully(h, buf, pos);
            var span = buf.AsSpan(0, n);
            int from = 0;
            while (from < span.Length)
            {
                int i = span[from..].IndexOf(pattern);
                if (i < 0) break;
                if (from + i < window) hits.Add(pos + from + i);
                if (hits.Count >= 16) return hits; // e.g. a blank first image: give up, use the slow path
                from += i + 1;
            }
        }
        return hits;
    }

    internal static byte[] ReadRowWithPureHdf(IH5Dataset ds, long row) =>
        ds.Read<byte[]>(fileSelection: new HyperslabSelection(4, [(ulong)row, 0, 0, 0],
            [1, PatchSchema.Height, PatchSchema.Width, PatchSchema.Channels]));

    private static int ReadFully(SafeFileHandle h, Span<byte> dest, long offset)
    {
        int total = 0;
        while (total < dest.Length)
        {
            int n = RandomAccess.Read(h, dest[total..], offset + total);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    public void Read(long row, int count, Span<byte> destination)
    {
        var dest = destination[..(count * PatchSchema.ImageBytes)];
        if (ReadFully(_handle, dest, _offset + row * PatchSchema.ImageBytes) != dest.Length)
            throw new PCamDataException($"{_path}: unexpected end of file reading rows {row}..{row + count - 1} (file changed or truncated?)");
    }

    public void Dispose() => _handle.Dispose();
}

/// <summary>
/// Chunked (optionally compressed) `x`: reads whole row blocks aligned to chunk boundaries through PureHDF
/// and keeps a small LRU of decoded blocks, so sequential cursors decode each chunk once.
/// </summary>
internal sealed class BlockRowReader : IImageRowReader
{
    private const long CacheBytes = 96L << 20;
    private readonly NativeFile _file;
    private readonly IH5Dataset _ds;
    private readonly long _rows;
    private readonly int _blockRows;
    private readonly int _capacity;
    private readonly LinkedList<(long Block, byte[] Data)> _lru = new();
    private readonly Lock _gate = new(); // PureHDF readers are not documented as thread-safe
    public string Mode { get; }

    public BlockRowReader(NativeFile file, IH5Dataset ds, long rows, long chunkRows, string mode)
    {
        _file = file;
        _ds = ds;
        _rows = rows;
        // Whole chunks along the row axis; several small chunks per block, but never a huge block.
        long blockRows = chunkRows <= 0 ? 256 : chunkRows * Math.Max(1, 64 / chunkRows);
        if (blockRows * PatchSchema.ImageBytes > CacheBytes) blockRows = 256;
        _blockRows = (int)Math.Min(blockRows, Math.Max(1, rows));
        _capacity = (int)Math.Max(1, CacheBytes / 2 / ((long)_blockRows * PatchSchema.ImageBytes));
        Mode = $"{mode} ({_blockRows} rows/block, {_capacity} cached)";
    }

    public void Read(long row, int count, Span<byte> destination)
    {
        int done = 0;
        while (done < count)
        {
            long r = row + done;
            long block = r / _blockRows;
            int inBlock = (int)(r - block * _blockRows);
            var data = GetBlock(block);
            int rowsInBlock = data.Length / PatchSchema.ImageBytes;
            int n = Math.Min(count - done, rowsInBlock - inBlock);
            data.AsSpan(inBlock * PatchSchema.ImageBytes, n * PatchSchema.ImageBytes)
                .CopyTo(destination[(done * PatchSchema.ImageBytes)..]);
            done += n;
        }
    }

    private byte[] GetBlock(long block)
    {
        lock (_gate)
        {
            for (var node = _lru.First; node != null; node = node.Next)
            {
                if (node.Value.Block != block) continue;
                _lru.Remove(node);
                _lru.AddFirst(node);
                return node.Value.Data;
            }
            long start = block * _blockRows;
            int n = (int)Math.Min(_blockRows, _rows - start);
            var data = new byte[n * PatchSchema.ImageBytes];
            try
            {
                ((NativeDataset)_ds).Read<byte>(data.AsSpan(), fileSelection: new HyperslabSelection(4, [(ulong)start, 0, 0, 0],
                    [(ulong)n, PatchSchema.Height, PatchSchema.Width, PatchSchema.Channels]));
            }
            catch (Exception e)
            {
                throw new PCamDataException($"{_file.Path}: cannot read rows {start}..{start + n - 1} of dataset 'x' ({e.Message})", e);
            }
            _lru.AddFirst((block, data));
            while (_lru.Count > _capacity) _lru.RemoveLast();
            return data;
        }
    }

    public void Dispose() { }
}
