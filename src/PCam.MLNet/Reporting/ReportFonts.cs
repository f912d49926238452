using SkiaSharp;

namespace PCam.MLNet.Reporting;

/// <summary>
/// Picks one font for every report image. Headless machines may have no system fonts, in which case
/// Skia silently draws no text; we then look for a TTF file ourselves and, failing that, still write
/// the images (without text) and say so in the Markdown.
/// </summary>
internal static class ReportFonts
{
    const string RegisteredName = "PCamReportFont";
    static readonly Lock Gate = new();
    static bool resolved;
    static SKTypeface? typeface;
    static string? family;

    /// <summary>Set PCAM_REPORT_FONT to a .ttf path to force a font.</summary>
    internal const string FontEnvironmentVariable = "PCAM_REPORT_FONT";

    /// <summary>The typeface used for our own Skia drawings (confusion matrix, gallery); null when none has glyphs.</summary>
    public static SKTypeface? Typeface { get { Ensure(); return typeface; } }

    public static bool Available => Typeface is not null;

    /// <summary>Resolves the font once (OxyPlot charts get its family name).</summary>
    public static void Ensure()
    {
        lock (Gate)
        {
            if (resolved) return;
            resolved = true;
            var file = Environment.GetEnvironmentVariable(FontEnvironmentVariable);
            if (!string.IsNullOrEmpty(file) && TryFile(file)) return;

            // A plain sans face, by name; the font manager may answer with some other family, so check the name.
            foreach (var family in new[] { "DejaVu Sans", "Liberation Sans", "Noto Sans", "Open Sans", "Arial", "Helvetica" })
            {
                var tf = SKFontManager.Default.MatchFamily(family);
                if (HasGlyphs(tf) && string.Equals(tf!.FamilyName, family, StringComparison.OrdinalIgnoreCase)) { Use(tf, family, null); return; }
            }
            // Any installed family that can draw Latin text.
            var any = SKFontManager.Default.MatchCharacter('A');
            if (HasGlyphs(any)) { Use(any!, any!.FamilyName, null); return; }

            foreach (var path in CandidateFiles())
                if (TryFile(path)) return;
            typeface = null;
        }
    }

    static bool TryFile(string path)
    {
        try
        {
            if (!File.Exists(path)) return false;
            var tf = SKTypeface.FromFile(path);
            if (!HasGlyphs(tf)) return false;
            Use(tf!, RegisteredName, path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    static void Use(SKTypeface tf, string name, string? file)
    {
        typeface = tf;
        family = name;
        // OxyPlot resolves fonts by family name through Skia's font manager; a face found only as a file (no
        // fontconfig) reaches our own Skia drawings but not the OxyPlot charts, which then use Skia's default face.
        _ = file;
    }

    /// <summary>The font family name given to the OxyPlot charts.</summary>
    public static string? Family { get { Ensure(); return family; } }

    static bool HasGlyphs(SKTypeface? tf) => tf is not null && tf.GlyphCount > 0 && tf.ContainsGlyph('A');

    static IEnumerable<string> CandidateFiles()
    {
        string[] roots =
        [
            "/usr/share/fonts", "/usr/local/share/fonts",
            Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".fonts"),
            Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local/share/fonts"),
        ];
        foreach (var root in roots.Where(Directory.Exists))
        {
            IEnumerable<string> files;
            try { files = Directory.EnumerateFiles(root, "*.ttf", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            // Prefer a plain sans face so the plots look alike wherever a file is found.
            foreach (var f in files.OrderBy(f => Path.GetFileName(f).Contains("Sans", StringComparison.OrdinalIgnoreCase) ? 0 : 1)
                                   .ThenBy(f => Path.GetFileName(f).Length))
                yield return f;
        }
    }
}
