namespace PCam.MLNet.Vision;

/// <summary>
/// ML.NET's transfer-learning layer, trained the way its trainer trains it: a fully connected softmax layer on the
/// bottleneck features, plain mini-batch gradient descent on the mean cross-entropy, <c>Epoch</c> passes of
/// <c>BatchSize</c> rows at <c>LearningRate</c> (or the scheduler's rate), metrics after every epoch and early stopping.
/// Features are standardised with the train rows' mean and standard deviation while training (so one learning rate
/// suits any backbone's feature scale), with weight decay (Options.L2Regularization, not in ML.NET's layer); the
/// standardisation is folded into the returned weights.
/// </summary>
internal sealed class SoftmaxLayer
{
    public required float[][] Weights { get; init; }
    public required float[] Biases { get; init; }
    public int EpochsRun { get; init; }

    public static SoftmaxLayer Train(float[] x, int[] y, int n, int d, int k, float[]? vx, int[]? vy, int vn,
        ImageClassificationTrainer.Options o, Action<ImageClassificationTrainer.ImageClassificationMetrics>? callback)
    {
        var mean = new double[d];
        var std = new double[d];
        for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) mean[j] += x[(long)i * d + j];
        for (int j = 0; j < d; j++) mean[j] /= n;
        for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) { var t = x[(long)i * d + j] - mean[j]; std[j] += t * t; }
        for (int j = 0; j < d; j++) { std[j] = Math.Sqrt(std[j] / n); if (std[j] < 1e-6) std[j] = 1; }
        float[] Standardise(float[] src, int rows)
        {
            var z = new float[(long)rows * d];
            for (int i = 0; i < rows; i++) for (int j = 0; j < d; j++) z[(long)i * d + j] = (float)((src[(long)i * d + j] - mean[j]) / std[j]);
            return z;
        }
        var zx = Standardise(x, n);
        var zv = vx is null ? null : Standardise(vx, vn);

        var w = new float[k * d];
        var b = new float[k];
        float l2 = o.L2Regularization;
        int batch = Math.Max(1, o.BatchSize), batches = (n + batch - 1) / batch;
        var order = Enumerable.Range(0, n).ToArray();
        var rng = new Random(o.Seed);
        var p = new float[k];
        var gw = new float[k * d];
        var gb = new float[k];
        o.EarlyStoppingCriteria?.Reset();
        int epoch = 0;
        for (; epoch < o.Epoch; epoch++)
        {
            rng.Shuffle(order);
            double loss = 0; int correct = 0; float lr = o.LearningRate;
            for (int bi = 0; bi < batches; bi++)
            {
                lr = o.LearningRateScheduler?.GetLearningRate(new TrainState(epoch, bi, batch, batches)) ?? o.LearningRate;
                Array.Clear(gw); Array.Clear(gb);
                int start = bi * batch, m = Math.Min(batch, n - start);
                for (int r = start; r < start + m; r++)
                {
                    int i = order[r];
                    var row = zx.AsSpan(i * d, d);
                    (double l, bool hit) = Forward(w, b, row, y[i], p, k, d);
                    loss += l; if (hit) correct++;
                    p[y[i]] -= 1;
                    for (int c = 0; c < k; c++)
                    {
                        float g = p[c] / m;
                        gb[c] += g;
                        var gRow = gw.AsSpan(c * d, d);
                        for (int j = 0; j < d; j++) gRow[j] += g * row[j];
                    }
                }
                for (int t = 0; t < gw.Length; t++) w[t] -= lr * (gw[t] + l2 * w[t]);
                for (int c = 0; c < k; c++) b[c] -= lr * gb[c];
            }
            var train = new ImageClassificationTrainer.TrainMetrics
            {
                DatasetUsed = ImageClassificationTrainer.ImageClassificationMetrics.Dataset.Train, BatchProcessedCount = batches, Epoch = epoch,
                Accuracy = (float)correct / n, CrossEntropy = (float)(loss / n), LearningRate = lr,
            };
            if (o.TestOnTrainSet) callback?.Invoke(new() { Train = train });
            var watched = train;
            if (zv is not null && vy is not null && vn > 0)
            {
                double vl = 0; int vc = 0;
                for (int i = 0; i < vn; i++) { var (l, hit) = Forward(w, b, zv.AsSpan(i * d, d), vy[i], p, k, d); vl += l; if (hit) vc++; }
                watched = new ImageClassificationTrainer.TrainMetrics
                {
                    DatasetUsed = ImageClassificationTrainer.ImageClassificationMetrics.Dataset.Validation, BatchProcessedCount = (vn + batch - 1) / batch,
                    Epoch = epoch, Accuracy = (float)vc / vn, CrossEntropy = (float)(vl / vn), LearningRate = lr,
                };
                callback?.Invoke(new() { Train = watched });
            }
            if (o.EarlyStoppingCriteria?.ShouldStop(watched) == true) { epoch++; break; }
        }

        // Fold (x - mean) / std into the weights: w' = w / std, b' = b - sum(w * mean / std).
        var weights = new float[k][];
        var biases = new float[k];
        for (int c = 0; c < k; c++)
        {
            weights[c] = new float[d];
            double shift = 0;
            for (int j = 0; j < d; j++)
            {
                weights[c][j] = (float)(w[c * d + j] / std[j]);
                shift += w[c * d + j] * mean[j] / std[j];
            }
            biases[c] = (float)(b[c] - shift);
        }
        return new SoftmaxLayer { Weights = weights, Biases = biases, EpochsRun = epoch };
    }

    /// <summary>Softmax probabilities of one row into <paramref name="p"/>; returns its cross-entropy and whether the argmax is the label.</summary>
    private static (double Loss, bool Hit) Forward(float[] w, float[] b, ReadOnlySpan<float> row, int label, float[] p, int k, int d)
    {
        float max = float.NegativeInfinity; int arg = 0;
        for (int c = 0; c < k; c++)
        {
            float s = b[c];
            var wRow = w.AsSpan(c * d, d);
            for (int j = 0; j < d; j++) s += wRow[j] * row[j];
            p[c] = s;
            if (s > max) { max = s; arg = c; }
        }
        double sum = 0;
        for (int c = 0; c < k; c++) { p[c] = MathF.Exp(p[c] - max); sum += p[c]; }
        for (int c = 0; c < k; c++) p[c] = (float)(p[c] / sum);
        return (-Math.Log(Math.Max(p[label], 1e-12)), arg == label);
    }
}
