namespace PCam.MLNet.Data;

/// <summary>The three PCam splits, named as in the official file names.</summary>
public enum PCamSplit { Train, Valid, Test }

/// <summary>Shape and column names shared by every patch source and by the trained model's input.</summary>
public static class PatchSchema
{
    public const int Height = 96;
    public const int Width = 96;
    public const int Channels = 3;
    /// <summary>Bytes of one patch: 96 x 96 x 3, HWC, RGB, exactly the bytes of the official `x` dataset.</summary>
    public const int ImageBytes = Height * Width * Channels;

    public const string ImageColumn = "Image";
    public const string LabelColumn = "Label";
    public const string IndexColumn = "Index";

    public static string FileToken(this PCamSplit split) => split switch
    {
        PCamSplit.Train => "train",
        PCamSplit.Valid => "valid",
        PCamSplit.Test => "test",
        _ => throw new ArgumentOutOfRangeException(nameof(split)),
    };
}
