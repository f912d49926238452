using System.Diagnostics;
using PCam.MLNet.Training;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;

namespace PCam.Cli;

/// <summary>
/// Messages to stderr; progress (stage, rows/s, ETA) as one redrawn line when stderr is a terminal, and nothing
/// when it is redirected, so logs and pipes stay clean.
/// </summary>
internal sealed class ConsoleLog(TextWriter err, bool interactive, bool verbose) : ITrainingLog
{
    public bool Verbose => verbose;
    public bool Interactive => interactive;

    public void Info(string message) { lock (this) { ClearLine(); err.WriteLine(message); } }

    public void Warning(string message) { lock (this) { ClearLine(); err.WriteLine("warning: " + FlagNames.Apply(message)); } }

    public IProgressTask StartTask(string description, long total) => new Task(this, description, total, "rows");

    /// <summary>A counted task whose rate is shown in <paramref name="unit"/>/s ("windows/s").</summary>
    public IProgressTask StartTask(string description, long total, string unit) => new Task(this, description, total, unit);

    /// <summary>Redraws the one-line status (only on a terminal).</summary>
    public void Status(string line) { if (interactive) Draw(line); }

    public void EndStatus() { if (interactive) lock (this) ClearLine(); }

    private int _lineLength;

    private void ClearLine()
    {
        if (_lineLength == 0) return;
        err.Write('\r' + new string(' ', _lineLength) + '\r');
        _lineLength = 0;
    }

    private void Draw(string line)
    {
        lock (this)
        {
            var text = line.Length < _lineLength ? line.PadRight(_lineLength) : line;
            err.Write('\r' + text);
            _lineLength = line.Length;
        }
    }

    private sealed class Task(ConsoleLog log, string description, long total, string unit) : IProgressTask
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private long _done;
        private long _lastDrawTicks = -1;

        public void Advance(long amount)
        {
            _done += amount;
            if (!log.Interactive) return;
            var now = _clock.ElapsedTicks;
            if (_lastDrawTicks >= 0 && now - _lastDrawTicks < Stopwatch.Frequency / 5 && _done < total) return;
            _lastDrawTicks = now;
            var seconds = Math.Max(_clock.Elapsed.TotalSeconds, 1e-6);
            var rate = _done / seconds;
            var eta = rate > 0 && total > _done ? TimeSpan.FromSeconds((total - _done) / rate) : TimeSpan.Zero;
            var pct = total > 0 ? 100.0 * _done / total : 0;
            var width = 28;
            var filled = total > 0 ? (int)(width * Math.Min(1, (double)_done / total)) : 0;
            log.Draw($"{description,-16} [{new string('#', filled)}{new string('-', width - filled)}] {pct,5:F1}%  " +
                     $"{_done:N0}/{total:N0}  {rate:N0} {unit}/s  ETA {eta:hh\\:mm\\:ss}");
        }

        public void Dispose()
        {
            if (log.Interactive) lock (log) log.ClearLine();
        }
    }
}
