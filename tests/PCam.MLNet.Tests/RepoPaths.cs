namespace PCam.MLNet.Tests;

/// <summary>Finds the repository root (holding PCam.MLNet.sln) above the test binaries.</summary>
public static class RepoPaths
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "PCam.MLNet.sln"))) return d.FullName;
        throw new InvalidOperationException("PCam.MLNet.sln not found above " + AppContext.BaseDirectory);
    }
}
