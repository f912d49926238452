namespace PCam.MLNet.Featurization;

/// <summary>
/// Patches in, features out, one batch at a time, double-buffered: while ONNX Runtime featurizes a batch, the next
/// batch's patches are read on a worker thread into the other pixel buffer, so decoding hides behind inference. The
/// reader is only ever called by one thread at a time (a read-ahead is always awaited before the next read), so a
/// source that is not thread-safe (a slide, an IDataView cursor) stays safe. Memory: two batches of pixels, one of features.
/// </summary>
/// <remarks>The one batching engine under <see cref="FeaturizedDataView"/> (any IDataView with an image column) and
/// the slide windows of the heatmap.</remarks>
public sealed class FeatureBatches : IDisposable
{
    /// <summary>Fills <paramref name="pixels"/> with up to <paramref name="max"/> patches (HWC RGB bytes, one after the other)
    /// and returns how many; 0 means the source has no more.</summary>
    public delegate int Reader(byte[] pixels, int max);

    private readonly BatchFeaturizer _featurizer;
    private readonly Reader _read;
    private readonly int _batch;
    private readonly CancellationToken _cancel;
    private readonly byte[][] _pixels;
    private Task<int>? _prefetch;
    private int _current;
    private bool _ended;

    /// <param name="featurizer">Runs the graph; not owned (the caller disposes it after this).</param>
    /// <param name="batchSize">Patches per batch (one ONNX Runtime run, split further by <see cref="BatchFeaturizer.MaxBatch"/>).</param>
    /// <param name="read">The source of patches.</param>
    /// <param name="cancel">Checked before every batch.</param>
    public FeatureBatches(BatchFeaturizer featurizer, int batchSize, Reader read, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(featurizer);
        ArgumentNullException.ThrowIfNull(read);
        _featurizer = featurizer;
        _read = read;
        _batch = Math.Max(1, batchSize);
        _cancel = cancel;
        _pixels = [new byte[(long)_batch * Data.PatchSchema.ImageBytes], new byte[(long)_batch * Data.PatchSchema.ImageBytes]];
        Features = new float[(long)_batch * featurizer.FeatureDimension];
    }

    /// <summary>Length of one row's features.</summary>
    public int FeatureDimension => _featurizer.FeatureDimension;

    /// <summary>The current batch's features: <see cref="Count"/> rows of <see cref="FeatureDimension"/> floats.</summary>
    public float[] Features { get; }

    /// <summary>Rows in the current batch.</summary>
    public int Count { get; private set; }

    /// <summary>Reads and featurizes the next batch (starting the read of the one after it); false when the source is done.</summary>
    public bool MoveNext()
    {
        _cancel.ThrowIfCancellationRequested();
        if (_ended) return false;
        int n;
        if (_prefetch is not null)
        {
            var done = _prefetch;
            _prefetch = null;
            n = done.GetAwaiter().GetResult(); // rethrows the reader's own exception (a damaged file names itself)
            _current = 1 - _current;
        }
        else n = _read(_pixels[_current], _batch);
        if (n <= 0)
        {
            _ended = true;
            Count = 0;
            return false;
        }
        // A short batch is the last one; after a full one the next read starts now, on the other buffer.
        if (n == _batch)
        {
            var buffer = _pixels[1 - _current];
            _prefetch = Task.Run(() => _read(buffer, _batch));
        }
        else _ended = true;
        _featurizer.Featurize(_pixels[_current], n, Features);
        Count = n;
        return true;
    }

    /// <summary>Waits for a read-ahead still running (never leave a thread reading a source that is about to be closed).</summary>
    public void Dispose()
    {
        if (_prefetch is null) return;
        try { _prefetch.Wait(); }
        catch (AggregateException) { } // an abandoned read-ahead: its error is not a batch anyone asked for
        _prefetch = null;
    }
}
