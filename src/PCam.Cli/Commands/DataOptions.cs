using System.CommandLine;

namespace PCam.Cli.Commands;

/// <summary>Options shared by every command that opens data.</summary>
internal static class DataOptions
{
    /// <summary>`--no-verify`: checksum mismatches become warnings saying what was skipped (DataSource.VerifyChecksums = false).</summary>
    public static Option<bool> NoVerify() => new("--no-verify")
    {
        Description = "Do not refuse files whose MD5 differs from the official or checksums.md5 value (e.g. re-chunked or rebuilt files); " +
                      "a warning says what was skipped (DataSource.VerifyChecksums).",
    };
}
