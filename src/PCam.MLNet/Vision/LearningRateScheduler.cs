namespace PCam.MLNet.Vision;

/// <summary>Where training is when a scheduler is asked for the learning rate (as ML.NET's trainer passes it).</summary>
internal readonly record struct TrainState(int CurrentEpoch, int CurrentBatchIndex, int BatchSize, int BatchesPerEpoch);

/// <summary>A learning-rate schedule for the softmax layer: the same classes and formulas as ML.NET's image-classification trainer.</summary>
public abstract class LearningRateScheduler
{
    private protected LearningRateScheduler() { }

    internal abstract float GetLearningRate(TrainState state);
}

/// <summary>Exponential decay (TensorFlow's exponential_decay): LearningRate * DecayRate^(step / decaySteps), decaySteps = NumEpochsPerDecay epochs.
/// As in ML.NET, its own <see cref="LearningRate"/> replaces <see cref="ImageClassificationTrainer.Options.LearningRate"/>.</summary>
public sealed class ExponentialLRDecay : LearningRateScheduler
{
    /// <summary>Initial learning rate.</summary>
    public float LearningRate;
    /// <summary>The number of batches seen so far (set while training).</summary>
    public int GlobalStep;
    /// <summary>Number of decay steps (set while training).</summary>
    public int DecaySteps;
    /// <summary>Learning rate decay factor.</summary>
    public float DecayRate;
    /// <summary>Decay at discrete intervals (a staircase) instead of continuously.</summary>
    public bool Staircase;
    /// <summary>Number of epochs after which the learning rate decays.</summary>
    public float NumEpochsPerDecay;

    /// <summary>ML.NET's defaults (from TensorFlow Slim).</summary>
    public ExponentialLRDecay(float learningRate = 0.01f, float numEpochsPerDecay = 2.0f, float decayRate = 0.94f, bool staircase = true)
    {
        LearningRate = learningRate;
        NumEpochsPerDecay = numEpochsPerDecay;
        DecayRate = decayRate;
        Staircase = staircase;
    }

    internal override float GetLearningRate(TrainState s)
    {
        DecaySteps = Math.Max(1, (int)(s.BatchesPerEpoch * NumEpochsPerDecay));
        GlobalStep = s.CurrentEpoch * s.BatchesPerEpoch + s.CurrentBatchIndex;
        float power = (float)GlobalStep / DecaySteps;
        if (Staircase) power = MathF.Floor(power);
        return LearningRate * MathF.Pow(DecayRate, power);
    }
}

/// <summary>Polynomial decay (TensorFlow's polynomial_decay) from <see cref="LearningRate"/> to <see cref="EndLearningRate"/>.</summary>
public sealed class PolynomialLRDecay : LearningRateScheduler
{
    /// <summary>Initial learning rate.</summary>
    public readonly float LearningRate;
    /// <summary>The minimal end learning rate.</summary>
    public readonly float EndLearningRate;
    /// <summary>The power of the polynomial.</summary>
    public readonly float Power;
    /// <summary>Whether the decay restarts once it has reached the end.</summary>
    public readonly bool Cycle;
    /// <summary>Number of epochs over which the rate decays.</summary>
    public readonly float NumEpochsPerDecay;

    /// <summary>ML.NET's defaults (from TensorFlow Slim).</summary>
    public PolynomialLRDecay(float learningRate = 0.01f, float numEpochsPerDecay = 2.0f, float endLearningRate = 0.0001f, float power = 1.0f, bool cycle = false)
    {
        LearningRate = learningRate;
        NumEpochsPerDecay = numEpochsPerDecay;
        EndLearningRate = endLearningRate;
        Power = power;
        Cycle = cycle;
    }

    internal override float GetLearningRate(TrainState s)
    {
        int decaySteps = Math.Max(1, (int)(s.BatchesPerEpoch * NumEpochsPerDecay));
        int step = s.CurrentEpoch * s.BatchesPerEpoch + s.CurrentBatchIndex;
        float span = Cycle && step > decaySteps ? decaySteps * MathF.Ceiling((float)step / decaySteps) : decaySteps;
        float done = Cycle && step > decaySteps ? step : Math.Min(step, decaySteps);
        return (LearningRate - EndLearningRate) * MathF.Pow(1 - done / span, Power) + EndLearningRate;
    }
}
