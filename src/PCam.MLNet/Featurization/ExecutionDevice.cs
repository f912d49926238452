using System.Globalization;

namespace PCam.MLNet.Featurization;

public readonly record struct ExecutionDevice(bool Cuda, int DeviceId)
{
    public static ExecutionDevice Cpu => new(false, 0);

    /// <summary>"cpu", "cuda" or "cuda:N".</summary>
    public static ExecutionDevice Parse(string text)
    {
        var t = text?.Trim().ToLowerInvariant();
        if (t == "cpu") return Cpu;
        if (t == "cuda") return new(true, 0);
        if (t is not null && t.StartsWith("cuda:", StringComparison.Ordinal)
            && int.TryParse(t.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            return new(true, id);
        throw new ArgumentException($"Unknown execution device '{text}': expected 'cpu', 'cuda' or 'cuda:N'.", nameof(text));
    }

    public override string ToString() => Cuda ? $"cuda:{DeviceId}" : "cpu";
}
