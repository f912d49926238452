using System.Globalization;

namespace PCam.MLNet.Slides.Cohort;

/// <summary>
/// Shard K of N of a cohort. From <c>--shard K/N</c>, else from a Slurm job array (SLURM_ARRAY_TASK_ID minus
/// SLURM_ARRAY_TASK_MIN, of SLURM_ARRAY_TASK_COUNT), else from a Kubernetes Indexed Job (JOB_COMPLETION_INDEX of
/// <c>--shards N</c>), else 0/1 (the whole cohort).
/// </summary>
public sealed record Shard(int Index, int Count)
{
    public static readonly Shard Whole = new(0, 1);

    /// <summary>Where the shard came from ("--shard", "Slurm array", "Kubernetes indexed job", "whole cohort").</summary>
    public string Source { get; init; } = "whole cohort";
    public string Name => $"shard-{Index}-of-{Count}";
    public override string ToString() => $"{Index}/{Count}";

    public static Shard Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var k) ||
            !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1 || k >= n)
            throw new ArgumentException($"shard K/N must have 0 <= K < N (got '{text}').");
        return new Shard(k, n) { Source = "--shard" };
    }

    /// <param name="shard">--shard K/N, or null.</param>
    /// <param name="shards">--shards N (with JOB_COMPLETION_INDEX), or null.</param>
    /// <param name="env">
    /// The scheduler's variables (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT, JOB_COMPLETION_INDEX).
    /// The library never reads the process environment itself: the `pcam` program passes its own, so a host (a test run
    /// inside a Slurm array, a service) is never sharded by variables meant for someone else.
    /// </param>
    public static Shard Resolve(string? shard, int? shards, Func<string, string?> env)
    {
        ArgumentNullException.ThrowIfNull(env);
        if (shard is not null) return Parse(shard);
        if (shards is < 1) throw new ArgumentException($"the shard count must be at least 1 (got {shards}).");
        static int? Int(string? v, string name) => v is null ? null
            : int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? i : throw new ArgumentException($"{name}='{v}' is not an integer.");
        if (Int(env("SLURM_ARRAY_TASK_ID"), "SLURM_ARRAY_TASK_ID") is { } id)
        {
            int min = Int(env("SLURM_ARRAY_TASK_MIN"), "SLURM_ARRAY_TASK_MIN") ?? 0;
            int count = shards ?? Int(env("SLURM_ARRAY_TASK_COUNT"), "SLURM_ARRAY_TASK_COUNT")
                ?? throw new ArgumentException("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; give the shard count N.");
            if (id - min < 0 || id - min >= count)
                throw new ArgumentException($"Slurm array task {id} (min {min}) is outside {count} shards; use a contiguous array such as --array=0-{count - 1}.");
            return new Shard(id - min, count) { Source = "Slurm array" };
        }
        if (Int(env("JOB_COMPLETION_INDEX"), "JOB_COMPLETION_INDEX") is { } index)
        {
            int count = shards ?? throw new ArgumentException("JOB_COMPLETION_INDEX is set (Kubernetes Indexed Job): give the shard count N (the job's completions).");
            if (index < 0 || index >= count) throw new ArgumentException($"JOB_COMPLETION_INDEX={index} is outside the shard count {count}.");
            return new Shard(index, count) { Source = "Kubernetes indexed job" };
        }
        return shards is { } n && n > 1 ? throw new ArgumentException("the shard count N needs JOB_COMPLETION_INDEX (or give shard K/N).") : Whole;
    }

    /// <summary>
    /// Balanced assignment: slides sorted by id, then dealt largest file first to the shard with the fewest bytes so far
    /// (ties: the lower shard). Computed once per run from one listing (<see cref="ShardPlan"/>): listings and sizes taken
    /// by tasks starting at different times may differ.
    /// </summary>
    public static int[] Assign(IReadOnlyList<SlideInput> slides, int count, Func<SlideInput, long>? size = null)
    {
        size ??= s => File.Exists(s.Path) ? new FileInfo(s.Path).Length : 0;
        var order = Enumerable.Range(0, slides.Count).OrderBy(i => slides[i].SlideId, StringComparer.Ordinal).ToArray();
        var sizes = order.ToDictionary(i => i, i => size(slides[i]));
        var load = new long[count];
        var shardOf = new int[slides.Count];
        foreach (var i in order.OrderByDescending(i => sizes[i]).ThenBy(i => slides[i].SlideId, StringComparer.Ordinal))
        {
            int best = 0;
            for (int k = 1; k < count; k++) if (load[k] < load[best]) best = k;
            shardOf[i] = best;
            load[best] += Math.Max(1, sizes[i]);
        }
        return shardOf;
    }

}
