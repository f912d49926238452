using System.CommandLine;
using PCam.Cli.Commands;
using PCam.MLNet;
using PCam.MLNet.Configuration;
using PCam.MLNet.Data;
using PCam.MLNet.Training;

namespace PCam.Cli;

/// <summary>The `pcam` program: one clear error line and a non-zero exit on failure, 0 on success.</summary>
public static class PcamApp
{
    /// <summary>How long Ctrl+C (SIGINT/SIGTERM) waits for a command to stop at its next check and remove what it had
    /// started writing, before the process ends anyway.</summary>
    public static readonly TimeSpan CancelGrace = TimeSpan.FromSeconds(10);

    /// <param name="args">The command line.</param>
    /// <param name="stdout">Results.</param>
    /// <param name="stderr">Progress, warnings and the one <c>error:</c> line of a failure.</param>
    /// <param name="interactive">Draw progress bars.</param>
    /// <param name="cancel">Cancels the command as Ctrl+C does (the command line's own token is linked to it).</param>
    /// <param name="environment">
    /// Where the scheduler's variables come from (SLURM_ARRAY_TASK_*, JOB_COMPLETION_INDEX: `pcam heatmap`'s default
    /// shard). The program passes the process environment; a caller that passes none is never sharded by them.
    /// </param>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, bool interactive = false, CancellationToken cancel = default,
        Func<string, string?>? environment = null)
    {
        var parse = Root(stdout, stderr, interactive, environment).Parse(args);
        // A value refused while parsing (unknown option, bad enum value, missing file) is one error line per problem, no help page.
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors) stderr.WriteLine($"error: {error.Message.ReplaceLineEndings(" ").Trim()}");
            return 1;
        }
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = CancelGrace };
        return parse.InvokeAsync(config, cancel).GetAwaiter().GetResult();
    }

    /// <summary>The command tree (what `--help` shows); parsing it runs nothing.</summary>
    internal static RootCommand Root(TextWriter stdout, TextWriter stderr, bool interactive = false, Func<string, string?>? environment = null)
    {
        var verbose = new Option<bool>("--verbose") { Description = "Show ML.NET's log and full exception details.", Recursive = true };
        var root = new RootCommand("PCam.MLNet: train, evaluate and ship PatchCamelyon tumour-patch classifiers as ML.NET model zips.");
        root.Options.Add(verbose);
        var cli = new CliContext(stdout, stderr, interactive, verbose) { Environment = environment ?? (_ => null) };
        foreach (var command in new ICommandFactory[]
                 {
                     new TrainCommand(), new EvaluateCommand(), new PredictCommand(), new HeatmapCommand(), new HeatmapReportCommand(), new InspectCommand(),
                     new DownloadCommand(), new VerifyCommand(), new ImportCommand(), new BenchCommand(), new ExportCommand(), new PatchesCommand(), new SlidesCommand(),
                 })
            root.Subcommands.Add(command.Create(cli));
        return root;
    }
}

internal interface ICommandFactory
{
    Command Create(CliContext cli);
}

/// <summary>What every command shares: the writers, whether to draw progress, and the error policy.</summary>
internal sealed class CliContext(TextWriter stdout, TextWriter stderr, bool interactive, Option<bool> verbose)
{
    public TextWriter Out { get; } = stdout;
    public TextWriter Err { get; } = stderr;
    /// <summary>The scheduler's variables (see <see cref="PcamApp.Run"/>).</summary>
    public Func<string, string?> Environment { get; init; } = _ => null;

    public ConsoleLog Log(ParseResult parse) => new(Err, interactive, parse.GetValue(verbose));

    /// <summary>Runs a command body that does not stop early on Ctrl+C (its writes are atomic).</summary>
    public void Bind(Command command, Func<ParseResult, ConsoleLog, int> body) => Bind(command, (parse, log, _) => body(parse, log));

    /// <summary>
    /// Runs a command body as an asynchronous action: System.CommandLine hands it a token that Ctrl+C, SIGTERM or the
    /// caller's token cancels. User-facing failures become one "error:" line and exit code 1; a cancellation exit 130.
    /// </summary>
    public void Bind(Command command, Func<ParseResult, ConsoleLog, CancellationToken, int> body)
    {
        command.SetAction((parse, cancel) => Task.Run(() =>
        {
            var log = Log(parse);
            try
            {
                return body(parse, log, cancel);
            }
            catch (Exception e) when (IsUserError(e))
            {
                Err.WriteLine($"error: {FlagNames.Apply(OneLine(e.Message))}");
                if (log.Verbose) Err.WriteLine(e.ToString());
                return 1;
            }
            catch (OperationCanceledException)
            {
                Err.WriteLine("error: cancelled.");
                return 130;
            }
            catch (Exception e)
            {
                // The one boundary: nothing reaches the runtime's handler, so no stack trace without --verbose.
                Err.WriteLine($"error: unexpected {e.GetType().Name}: {OneLine(e.Message)} (this is a bug in pcam; rerun with --verbose for the stack trace and report it)");
                if (log.Verbose) Err.WriteLine(e.ToString());
                return 2;
            }
        }, CancellationToken.None));
    }

    /// <summary>Problems the user can fix: our own types, plus the BCL's file, format and network errors, whose messages name the file.</summary>
    static bool IsUserError(Exception e) =>
        e is PCamException or ArgumentException or FileNotFoundException or DirectoryNotFoundException
            or InvalidOperationException or IOException or UnauthorizedAccessException or HttpRequestException
            or System.Text.Json.JsonException or InvalidDataException;

    static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
