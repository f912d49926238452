namespace PCam.MLNet.Data;

// CONTRACT (to be implemented by the data-layer work).
public static class DemoData
{
    /// <summary>Writes (once) the deterministic demo set in the official layout into directory; returns it.</summary>
    public static string EnsureGenerated(string directory) => throw new NotImplementedException();
    /// <summary>Marker file name written beside demo files, so tools can say "this is demo data".</summary>
    public const string MarkerFile = "PCAM_DEMO_DATA.txt";
    public static bool IsDemo(string directory) => File.Exists(Path.Combine(directory, MarkerFile));
}
