using System.CommandLine;
using System.Text;
using System.Text.RegularExpressions;
using PCam.Cli;
using Xunit;

namespace PCam.MLNet.Tests.Docs;

/// <summary>
/// Every `pcam ...` command in a code block or a table of README.md and docs/*.md parses against the real command tree: the
/// command exists and every option and argument is one it takes. Parsing runs nothing, so this is cheap; what the
/// commands do is tested by the command tests and `.ci/run`.
/// </summary>
public class ReadmeCommandTests
{
    public static TheoryData<string, string> Commands()
    {
        var data = new TheoryData<string, string>();
        foreach (var file in Documents())
            // A command shown twice in one file is one case (xunit refuses duplicate cases).
            foreach (var command in ExtractCommands(File.ReadAllText(file)).Distinct(StringComparer.Ordinal))
                data.Add(Path.GetRelativePath(RepoPaths.Root, file), command);
        return data;
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void DocumentedCommandParses(string file, string command)
    {
        var parse = PcamApp.Root(TextWriter.Null, TextWriter.Null).Parse(Tokenize(command));
        // The documented paths are the reader's, not files of this checkout: only a path that is missing may fail.
        var errors = parse.Errors.Where(e => !PCam.Cli.Commands.OptionKinds.IsMissingPath(e)).ToList();
        Assert.True(errors.Count == 0,
            $"{file}: `pcam {command}` does not parse: {string.Join("; ", errors.Select(e => e.Message))}");
        Assert.IsNotType<RootCommand>(parse.CommandResult.Command);
    }

    [Fact]
    public void ReadmeShowsTheMainCommands()
    {
        var readme = ExtractCommands(File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md"))).ToList();
        foreach (var command in new[] { "download", "train", "evaluate", "predict", "inspect", "export", "heatmap" })
            Assert.True(readme.Any(c => c.StartsWith(command + " ", StringComparison.Ordinal) || c == command),
                $"README.md shows no `pcam {command}` in a code block or table.");
    }

    [Fact]
    public void TheCheckRejectsWhatTheCliRejects()
    {
        // The extraction and the parse are the ones the theory uses; a wrong option or command must fail them.
        var commands = ExtractCommands("```csharp\npcam not-a-shell-line\n```\n```bash\npcam train --data d --no-such-option   # comment\npcam trian\n```\n" +
                                       "| figure | `pcam bench heads --no-such-option` |\n").ToList();
        Assert.Equal(["train --data d --no-such-option", "trian", "bench heads --no-such-option"], commands);
        foreach (var c in commands)
            Assert.NotEmpty(PcamApp.Root(TextWriter.Null, TextWriter.Null).Parse(Tokenize(c)).Errors);
    }

    private static IEnumerable<string> Documents() =>
        new[] { Path.Combine(RepoPaths.Root, "README.md") }
            .Concat(Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, "docs"), "*.md", SearchOption.TopDirectoryOnly).Order());

    /// <summary>The arguments of each `pcam` line (or `dotnet run --project src/PCam.Cli ... -- ARGS`) in fenced code blocks.</summary>
    internal static IEnumerable<string> ExtractCommands(string markdown)
    {
        bool inFence = false, inBlock = false; // inside any fenced block; inside a shell one
        var line = new StringBuilder();
        foreach (var raw in markdown.ReplaceLineEndings("\n").Split('\n'))
        {
            if (raw.TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                var lang = raw.Trim().TrimStart('`');
                inFence = !inFence;
                inBlock = inFence && (lang.Length == 0 || lang is "bash" or "sh" or "shell" or "console");
                line.Clear();
                continue;
            }
            if (inFence && !inBlock) continue;
            if (!inBlock)
            {
                // Tables give commands too (the "command" column of a figure): their `pcam ...` code spans.
                if (raw.TrimStart().StartsWith('|'))
                    foreach (Match m in Regex.Matches(raw, "`pcam ([^`]*)`"))
                        yield return Regex.Replace(m.Groups[1].Value.Trim(), @"\s+", " ");
                continue;
            }
            var text = StripComment(raw).TrimEnd();
            if (text.EndsWith('\\')) { line.Append(text[..^1]).Append(' '); continue; }
            line.Append(text);
            var full = Regex.Replace(line.ToString().Trim(), @"\s+", " ");
            line.Clear();
            foreach (var part in full.Split("&&").Select(p => p.Trim()))
            {
                if (part.StartsWith("pcam ", StringComparison.Ordinal) || part == "pcam") yield return part.Length > 4 ? part[5..] : "";
                else if (part.Contains("--project src/PCam.Cli", StringComparison.Ordinal) && part.Contains(" -- ", StringComparison.Ordinal))
                    yield return part[(part.IndexOf(" -- ", StringComparison.Ordinal) + 4)..];
            }
        }
    }

    // A comment starts at a '#' that begins a word outside quotes.
    private static string StripComment(string s)
    {
        char quote = '\0';
        for (var i = 0; i < s.Length; i++)
        {
            if (quote != '\0') { if (s[i] == quote) quote = '\0'; continue; }
            if (s[i] is '"' or '\'') quote = s[i];
            else if (s[i] == '#' && (i == 0 || char.IsWhiteSpace(s[i - 1]))) return s[..i];
        }
        return s;
    }

    private static string[] Tokenize(string command)
    {
        var tokens = new List<string>();
        var current = new StringBuilder();
        char quote = '\0';
        var any = false;
        foreach (var c in command)
        {
            if (quote != '\0') { if (c == quote) quote = '\0'; else current.Append(c); continue; }
            if (c is '"' or '\'') { quote = c; any = true; continue; }
            if (char.IsWhiteSpace(c)) { if (any || current.Length > 0) tokens.Add(current.ToString()); current.Clear(); any = false; continue; }
            current.Append(c);
        }
        if (any || current.Length > 0) tokens.Add(current.ToString());
        return tokens.ToArray();
    }
}
