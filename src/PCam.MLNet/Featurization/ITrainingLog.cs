namespace PCam.MLNet.Featurization;

/// <summary>Where long work reports: messages and row-count progress (the CLI draws bars; tests pass Silent).</summary>
public interface ITrainingLog
{
    void Info(string message);
    void Warning(string message);
    /// <summary>Starts a counted task ("Features train", 19,171 rows); dispose when done.</summary>
    IProgressTask StartTask(string description, long total);
}

public interface IProgressTask : IDisposable
{
    void Advance(long amount);
}

public sealed class SilentLog : ITrainingLog
{
    public List<string> Messages { get; } = [];
    public void Info(string message) { lock (Messages) Messages.Add(message); }
    public void Warning(string message) { lock (Messages) Messages.Add("warning: " + message); }
    public IProgressTask StartTask(string description, long total) => new NoTask();
    private sealed class NoTask : IProgressTask { public void Advance(long amount) { } public void Dispose() { } }
}

/// <summary>Adapts the data layer's (stage, done, total) progress to counted log tasks, one per stage.</summary>
public sealed class StageProgress(ITrainingLog log) : IProgress<(string Stage, long Done, long Total)>, IDisposable
{
    private string? _stage;
    private long _done;
    private IProgressTask? _task;

    public void Report((string Stage, long Done, long Total) value)
    {
        if (value.Stage != _stage)
        {
            _task?.Dispose();
            _stage = value.Stage;
            _done = 0;
            _task = log.StartTask(value.Stage, value.Total);
        }
        _task!.Advance(value.Done - _done);
        _done = value.Done;
    }

    public void Dispose() => _task?.Dispose();
}
