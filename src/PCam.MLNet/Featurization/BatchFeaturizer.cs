using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using PCam.MLNet.Data;

namespace PCam.MLNet.Featurization;

/// <summary>Runs a FeaturizerGraph in batches with ONNX Runtime.</summary>
public sealed class BatchFeaturizer : IDisposable
{
    static readonly string[] InputNames = [FeaturizerGraph.InputName];
    static readonly string[] OutputNames = [FeaturizerGraph.OutputName];

    readonly InferenceSession _session;
    readonly RunOptions _run = new();
    readonly OrtMemoryInfo _cpu = OrtMemoryInfo.DefaultInstance;
    bool _disposed;

    public BatchFeaturizer(FeaturizerGraph graph, ExecutionDevice device, int? threads = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        FeatureDimension = graph.FeatureDimension;
        (_session, DeviceDescription) = CreateSession(graph, device, threads);
        InputSide = graph.InputSide;
    }

    /// <summary>Runs an already composed featurizer graph (for example the one stored in a model zip): uint8 [N,96,96,3] "Image" in, float [N,D] "Features" out.</summary>
    /// <param name="externalDataFolder">Where the graph's external weight files lie (for a model zip: its folder), or null.</param>
    public BatchFeaturizer(byte[] modelBytes, ExecutionDevice device, int? threads = null, string? externalDataFolder = null)
    {
        ArgumentNullException.ThrowIfNull(modelBytes);
        (_session, DeviceDescription) = CreateSession(modelBytes, externalDataFolder, device, threads);
        FeatureDimension = _session.OutputMetadata.TryGetValue(FeaturizerGraph.OutputName, out var output) && output.Dimensions is [_, > 0 and var d]
            ? d
            : throw new InvalidDataException($"The featurizer graph has no [N,D] '{FeaturizerGraph.OutputName}' output.");
        InputSide = _session.InputMetadata.TryGetValue(FeaturizerGraph.InputName, out var input) && input.Dimensions is [_, > 0 and var s, _, _] ? s : PatchSchema.Height;
    }

    /// <summary>Side of the square images the graph takes (96: a PCam patch).</summary>
    public int InputSide { get; }

    /// <summary>What actually runs ("cpu", "cuda:0", or "cpu (CUDA unavailable: ...)").</summary>
    public string DeviceDescription { get; }
    public int FeatureDimension { get; }
    /// <summary>Rows per ONNX Runtime call; bounds activation memory for large counts (TTA multiplies the batch by 8).</summary>
    public int MaxBatch { get; set; } = 64;

    internal static SessionOptions CreateOptions(int? threads, string? externalFolder)
    {
        var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = threads ?? Environment.ProcessorCount,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        // Between runs the caller decodes images and writes the cache; spinning pool threads would steal those cores.
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        ExternalData.Configure(options, externalFolder);
        return options;
    }

    internal static (InferenceSession, string) CreateSession(FeaturizerGraph graph, ExecutionDevice device, int? threads) =>
        CreateSession(graph.ModelBytes, graph.ExternalDataFolder, device, threads);

    internal static (InferenceSession, string) CreateSession(byte[] model, string? folder, ExecutionDevice device, int? threads)
    {
        if (device.Cuda)
        {
            var options = CreateOptions(threads, folder);
            try
            {
                options.AppendExecutionProvider_CUDA(device.DeviceId);
                return (new InferenceSession(model, options), device.ToString());
            }
            catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException or NotSupportedException)
            {
                // The CPU-only runtime package or a machine without a driver: keep working on the CPU and say so.
                options.Dispose();
                var cpu = CreateOptions(threads, folder);
                return (new InferenceSession(model, cpu), $"cpu (CUDA unavailable: {FirstLine(e.Message)})");
            }
        }
        return (new InferenceSession(model, CreateOptions(threads, folder)), "cpu");
    }

    static string FirstLine(string s) { var i = s.IndexOf('\n'); return (i < 0 ? s : s[..i]).Trim(); }

    /// <summary>images: count x InputSide x InputSide x 3 bytes (HWC RGB; 27,648 for a PCam patch); features: count x FeatureDimension.</summary>
    public unsafe void Featurize(ReadOnlySpan<byte> images, int count, Span<float> features)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        int side = InputSide, rowBytes = side * side * PatchSchema.Channels;
        if (images.Length < (long)count * rowBytes)
            throw new ArgumentException($"images holds {images.Length} bytes; {count} images need {(long)count * rowBytes}.", nameof(images));
        if (features.Length < (long)count * FeatureDimension)
            throw new ArgumentException($"features holds {features.Length} floats; {count} rows need {(long)count * FeatureDimension}.", nameof(features));
        int d = FeatureDimension, step = Math.Max(1, MaxBatch);
        // Zero-copy: ORT reads the caller's bytes and writes straight into the caller's floats.
        fixed (byte* src = images)
        fixed (float* dst = features)
        {
            for (int start = 0; start < count; start += step)
            {
                int n = Math.Min(step, count - start);
                using var input = OrtValue.CreateTensorValueWithData(_cpu, TensorElementType.UInt8,
                    [n, side, side, PatchSchema.Channels],
                    (IntPtr)(src + (long)start * rowBytes), (long)n * rowBytes);
                using var output = OrtValue.CreateTensorValueWithData(_cpu, TensorElementType.Float,
                    [n, d], (IntPtr)(dst + (long)start * d), (long)n * d * sizeof(float));
                _session.Run(_run, InputNames, [input], OutputNames, [output]);
            }
        }
    }

    /// <summary>Convenience: returns a new count x FeatureDimension array.</summary>
    public float[] Featurize(ReadOnlySpan<byte> images, int count)
    {
        var f = new float[(long)count * FeatureDimension];
        Featurize(images, count, f);
        return f;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _session.Dispose();
        _run.Dispose();
    }
}
