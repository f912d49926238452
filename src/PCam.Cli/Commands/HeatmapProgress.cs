using Spectre.Console;
using PCam.MLNet.Slides.Heatmap;

namespace PCam.Cli.Commands;

/// <summary>
/// `pcam heatmap`'s live display on a terminal (Spectre.Console, on stderr): a cohort bar in windows with its ETA, and
/// one bar per slide. The cohort's total starts as the plan's first-stage windows (<see cref="HeatmapPlan"/>) and grows
/// by each slide's refine stage when the coarse stage has found it. Messages print above the bars. Off a terminal
/// nothing is drawn (logs stay clean) and messages go to the log as usual.
/// </summary>
internal sealed class HeatmapProgress(ConsoleLog log, TextWriter err, HeatmapPlan plan)
{
    private readonly Dictionary<string, long> _planned = new(StringComparer.Ordinal);
    private IAnsiConsole? _console;
    private ProgressContext? _context;
    private ProgressTask? _cohort, _slide;
    private string? _slideId;
    private long _slideDone, _slideTotal;

    /// <summary>Runs <paramref name="body"/> with the bars drawn (terminal) or not.</summary>
    public T Run<T>(IEnumerable<(string SlideId, string Path)> slides, Func<T> body)
    {
        var byPath = plan.Slides.ToDictionary(s => s.Path, StringComparer.Ordinal);
        foreach (var (id, path) in slides)
            if (byPath.TryGetValue(path, out var p)) _planned[id] = p.CoarseWindows ?? 0;
        if (!log.Interactive) return body();
        _console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(err) });
        T result = default!;
        _console.Progress().AutoClear(true).HideCompleted(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                _context = ctx;
                _cohort = ctx.AddTask($"cohort ({_planned.Count} slides)", maxValue: Math.Max(1, plan.FirstStageWindows));
                try { result = body(); }
                finally { _context = null; }
            });
        _console = null;
        return result;
    }

    public void Info(string message)
    {
        if (_console is { } c && _context is not null) c.WriteLine(message);
        else log.Info(message);
    }

    public void Warning(string message) => Info("warning: " + FlagNames.Apply(message));

    public void Error(string message)
    {
        message = FlagNames.Apply(message);
        if (_console is { } c && _context is not null) c.WriteLine("error: " + message);
        else err.WriteLine("error: " + message);
    }

    /// <summary>(slide id, windows done, windows to score so far) from the runner.</summary>
    public void Progress(string slideId, long done, long total)
    {
        if (_context is not { } ctx || _cohort is null) return;
        if (_slideId != slideId)
        {
            _slide?.StopTask();
            _slide = ctx.AddTask(slideId, maxValue: Math.Max(1, total));
            _slideId = slideId;
            _slideDone = 0;
            _slideTotal = _planned.GetValueOrDefault(slideId, total);
        }
        if (total > _slideTotal) { _cohort.MaxValue += total - _slideTotal; _slideTotal = total; }
        _slide!.MaxValue = Math.Max(1, total);
        _slide.Value = done;
        _cohort.Increment(done - _slideDone);
        _slideDone = done;
        if (done >= total) _slide.StopTask();
    }
}
