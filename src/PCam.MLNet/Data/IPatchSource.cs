namespace PCam.MLNet.Data;

/// <summary>
/// Random access to labelled 96x96x3 RGB patches: an official HDF5 pair, an image folder tree or the Kaggle layout.
/// Labels and identities are small and held in memory; pixels are read on demand.
/// Implementations must allow concurrent <see cref="ReadImages"/> calls from several cursors.
/// </summary>
public interface IPatchSource : IDisposable
{
    /// <summary>What the rows come from (a file or folder path), for messages.</summary>
    string Description { get; }

    long RowCount { get; }

    /// <summary>Reads <paramref name="count"/> consecutive rows starting at <paramref name="row"/> into
    /// <paramref name="destination"/> (count x <see cref="PatchSchema.ImageBytes"/> bytes, HWC RGB).</summary>
    void ReadImages(long row, int count, Span<byte> destination);

    bool GetLabel(long row);

    /// <summary>The patch identity: the row index in the official split file (or the number in a file name).</summary>
    long GetIndex(long row);

    /// <summary>The image file a row came from, or null for HDF5 rows.</summary>
    string? GetPath(long row);
}
