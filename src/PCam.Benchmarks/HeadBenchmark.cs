using System.Diagnostics;
using System.Numerics;
using Microsoft.ML;
using PCam.MLNet.Configuration;
using PCam.MLNet.Data;
using PCam.MLNet.Featurization;

namespace PCam.Benchmarks;

/// <summary>One timed head search: its result and the memory it took.</summary>
public sealed record HeadBenchRun(bool Exhaustive, HeadResult Result, double Seconds, long PeakWorkingSetBytes, long StartWorkingSetBytes);

/// <summary>
/// `pcam bench heads`: the head search (original exhaustive path vs the default path) on a generated feature table
/// shaped like PCam's (262,144 x 896 by default), read from an ML.NET binary file as the training run reads its
/// feature cache.
/// </summary>
/// <remarks>
/// The generated features: a 50/50 label; 32 latent factors, shifted along one fixed random direction for class 1,
/// plus 16 nuisance factors (stain/scanner-like variation unrelated to the label); a fixed random linear map of the 48
/// factors to every feature plus independent noise, through softplus (non-negative, like pooled ReLU activations);
/// 8% of labels flipped. Features are strongly correlated (rank-48 signal in 896 dimensions), so L-BFGS needs hundreds
/// of iterations at weak L2, and the best linear head reaches a valid NLL near 0.35 nats, as on PCam.
/// </remarks>
public static class HeadBenchmark
{
    private const int Latent = 32, Nuisance = 16, Factors = Latent + Nuisance;
    private const double Shift = 4.0, Noise = 1.0, LabelFlip = 0.08;

    /// <summary>Generates rows x dim features; <paramref name="stream"/> separates train (0) from valid (1) draws of one seed.</summary>
    internal static FeatureTable Generate(int rows, int dim, int seed, int stream)
    {
        // The fixed part (maps, offsets, class direction) depends on the seed only, so train and valid share it.
        var fixedRand = new Random(seed);
        var map = new float[Factors * dim]; // factor-major: map[f * dim + j]
        for (var i = 0; i < map.Length; i++) map[i] = (float)(Normal(fixedRand) / Math.Sqrt(Factors) * 1.5);
        var offset = new float[dim];
        for (var j = 0; j < dim; j++) offset[j] = (float)(Normal(fixedRand) * 0.5 - 0.5);
        var direction = new double[Latent];
        for (var k = 0; k < Latent; k++) direction[k] = Normal(fixedRand);
        var norm = Math.Sqrt(direction.Sum(d => d * d));
        for (var k = 0; k < Latent; k++) direction[k] *= Shift / norm;

        var features = new float[checked((long)rows * dim)];
        var labels = new bool[rows];
        var indices = new long[rows];
        const int chunk = 4096;
        var chunks = (rows + chunk - 1) / chunk;
        // Each chunk has its own seeded generator: the table is the same whatever the thread count, and in every process
        // (HashCode.Combine, used before, is salted per process, so each generation gave another table).
        Parallel.For(0, chunks, c =>
        {
            var rand = new Random(ChunkSeed(seed, stream, c));
            var h = new float[dim];
            var factors = new float[Factors];
            for (var r = c * chunk; r < Math.Min(rows, (c + 1) * chunk); r++)
            {
                var y = rand.Next(2) == 1;
                for (var k = 0; k < Factors; k++) factors[k] = (float)(Normal(rand) + (k < Latent && y ? direction[k] : 0));
                offset.CopyTo(h, 0);
                for (var k = 0; k < Factors; k++) Axpy(factors[k], map.AsSpan(k * dim, dim), h);
                var row = features.AsSpan(r * dim, dim);
                for (var j = 0; j < dim; j++)
                {
                    var v = h[j] + Noise * Normal(rand);
                    row[j] = (float)(v > 20 ? v : Math.Log(1 + Math.Exp(v))); // softplus
                }
                labels[r] = rand.NextDouble() < LabelFlip ? !y : y;
                indices[r] = r;
            }
        });
        return FeatureTable.FromArrays(features, labels, indices, dim);
    }

    /// <summary>The generated (train, valid) tables as ML.NET binary files under <paramref name="directory"/>, made once per shape and seed.</summary>
    public static (string Train, string Valid) EnsureTables(MLContext ml, string directory, int rows, int validRows, int dim, int seed,
        Action<string>? log = null)
    {
        Directory.CreateDirectory(directory);
        string Table(string split, int n, int stream)
        {
            var path = Path.Combine(directory, $"{split}-{n}x{dim}-seed{seed}-v2.idv"); // v2: generator fixed across processes
            if (File.Exists(path)) return path;
            var sw = Stopwatch.StartNew();
            var table = Generate(n, dim, seed, stream);
            var tmp = $"{path}.{Environment.ProcessId}.tmp";
            try
            {
                using (var file = File.Create(tmp)) ml.Data.SaveAsBinary(table, file, keepHidden: false);
                File.Move(tmp, path, overwrite: true);
            }
            finally
            {
                if (File.Exists(tmp)) File.Delete(tmp);
            }
            log?.Invoke($"Generated {path} ({n:N0} x {dim}) in {sw.Elapsed.TotalSeconds:F1} s.");
            return path;
        }
        return (Table("train", rows, 0), Table("valid", validRows, 1));
    }

    /// <summary>Runs one head search on the binary files (as PCamTrainer does on its feature cache), sampling the working set.</summary>
    public static HeadBenchRun Run(MLContext ml, string trainPath, string validPath, TrainingOptionConfig options, bool exhaustive,
        Action<string>? log = null)
    {
        GCSettingsCompactOnce();
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        var start = process.WorkingSet64;
        long peak = start;
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            using var p = Process.GetCurrentProcess();
            while (!stop.IsCancellationRequested)
            {
                p.Refresh();
                Interlocked.Exchange(ref peak, Math.Max(Interlocked.Read(ref peak), p.WorkingSet64));
                try { await Task.Delay(50, stop.Token); } catch (TaskCanceledException) { }
            }
        });
        var o = Clone(options);
        var sw = Stopwatch.StartNew();
        HeadResult result;
        try
        {
            var (train, valid) = (new CacheFileView(ml, trainPath), new CacheFileView(ml, validPath));
            result = exhaustive ? TrainExhaustive(ml, ml.Data.Cache(train), ml.Data.Cache(valid), o, log) : HeadTrainer.Train(ml, train, valid, o, log);
        }
        finally
        {
            stop.Cancel();
            sampler.Wait();
        }
        return new HeadBenchRun(exhaustive, result, sw.Elapsed.TotalSeconds, Interlocked.Read(ref peak), start);
    }

    /// <summary>
    /// The exhaustive baseline the default search is measured against: every candidate of
    /// <see cref="HeadTrainer.Candidates"/> from scratch on all rows, one thread, L-BFGS tolerance 1e-7, linear
    /// candidates each with their own normaliser.
    /// </summary>
    public static HeadResult TrainExhaustive(MLContext ml, IDataView train, IDataView valid, TrainingOptionConfig options,
        Action<string>? log = null)
    {
        var trials = new List<(HeadTrial Trial, ITransformer Model)>();
        var rows = train.GetRowCount() ?? 0;
        var linear = options.TrainerKind.IsLinear();
        foreach (var candidate in HeadTrainer.Candidates(ml, options, lbfgsTolerance: 1e-7))
        {
            var sw = Stopwatch.StartNew();
            ITransformer head;
            if (linear)
            {
                var normalizer = ml.Transforms.NormalizeMeanVariance(FeatureTable.FeaturesColumn).Fit(train);
                head = normalizer.Append(candidate.Fit(normalizer.Transform(train), valid, 1));
            }
            else head = candidate.Fit(train, valid, 1);
            var (model, m) = HeadTrainer.Calibrate(ml, head, valid);
            var trial = new HeadTrial(options.Trainer, candidate.Parameters, m, sw.Elapsed.TotalSeconds) { TrainRows = rows };
            log?.Invoke($"{trial.Trainer} {HeadTrainer.Describe(candidate.Parameters)}: valid NLL {m.Nll:F4}, AUC {m.Auc:F4}, " +
                        $"Acc {m.Accuracy:F4} ({trial.Seconds:F1} s)");
            trials.Add((trial, model));
        }
        var best = trials.MinBy(t => t.Trial.ValidNll);
        return new HeadResult(best.Model, trials.Select(t => t.Trial).ToList(), best.Trial);
    }

    private static TrainingOptionConfig Clone(TrainingOptionConfig o) => new()
    {
        Trainer = o.Trainer, Seed = o.Seed, Lbfgs = o.Lbfgs, Sdca = o.Sdca, LightGbm = o.LightGbm, FastTree = o.FastTree,
        HeadSelection = new HeadSelectionConfig
        {
            SelectionRows = o.HeadSelection.SelectionRows, Threads = o.HeadSelection.Threads,
            LbfgsTolerance = o.HeadSelection.LbfgsTolerance,
        },
    };

    private static void GCSettingsCompactOnce()
    {
        System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
    }

    /// <summary>A fixed mix (SplitMix64's finaliser) of the seed, the stream and the chunk number.</summary>
    internal static int ChunkSeed(int seed, int stream, int chunk)
    {
        unchecked
        {
            var z = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)stream * 0xBF58476D1CE4E5B9UL ^ (ulong)(uint)chunk * 0x94D049BB133111EBUL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return (int)((z ^ (z >> 31)) & int.MaxValue);
        }
    }

    private static void Axpy(float a, ReadOnlySpan<float> x, Span<float> y)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var va = new Vector<float>(a);
            for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
                (new Vector<float>(y[i..]) + va * new Vector<float>(x[i..])).CopyTo(y[i..]);
        }
        for (; i < x.Length; i++) y[i] += a * x[i];
    }

    private static double Normal(Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());
}
