using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers;

namespace PCam.MLNet.Vision;

/// <summary>
/// The four members the trainer needs that ML.NET keeps internal (its own extension assemblies are friends of
/// Microsoft.ML.Core; a third-party one is not). Each is looked up once and checked, so an ML.NET whose internals moved
/// fails with one clear message at Fit, never with a model that half works.
/// <list type="bullet">
/// <item>The softmax layer the trainer fits becomes ML.NET's own <see cref="MaximumEntropyModelParameters"/> in ML.NET's own
/// <see cref="MulticlassPredictionTransformer{TModel}"/> (Score = softmax probabilities in key order, PredictedLabel a key
/// with the label's values): both constructors are internal.</item>
/// <item>The decoding step is ML.NET's CustomMapping transformer; its saved entry names this assembly as its loader
/// assembly, which ML.NET's ModelLoadContext loads and registers (EnsureLoaderAssemblyIsRegistered) before it looks the
/// mapping up, so <c>mlContext.Model.Load</c> finds it with no RegisterAssembly call in the app. The field that holds
/// that name on ModelSaveContext is private.</item>
/// </list>
/// </summary>
internal static class MlNetInternals
{
    private const BindingFlags Any = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;

    private static readonly Lazy<ConstructorInfo> MaxEntCtor = new(() => Find(typeof(MaximumEntropyModelParameters),
        [typeof(IHostEnvironment), typeof(VBuffer<float>[]), typeof(float[]), typeof(int), typeof(int), typeof(string[]), typeof(ModelStatisticsBase)]));

    private static readonly Lazy<ConstructorInfo> PredictionCtor = new(() => Find(typeof(MulticlassPredictionTransformer<MaximumEntropyModelParameters>),
        [typeof(IHostEnvironment), typeof(MaximumEntropyModelParameters), typeof(DataViewSchema), typeof(string), typeof(string), typeof(string), typeof(string)]));

    private static readonly Lazy<FieldInfo> LoaderAssemblyField = new(() =>
        typeof(ModelSaveContext).GetField("_loaderAssemblyName", Any) is { FieldType: var t } f && t == typeof(string)
            ? f : throw Unsupported("ModelSaveContext._loaderAssemblyName"));

    private static readonly Lazy<ConstructorInfo> ColumnCtor = new(() => Find(typeof(SchemaShape.Column),
        [typeof(string), typeof(SchemaShape.Column.VectorKind), typeof(DataViewType), typeof(bool), typeof(SchemaShape)]));

    /// <summary>A schema-shape column (ML.NET's estimators describe their outputs with it; its constructor is internal).</summary>
    public static SchemaShape.Column Column(string name, SchemaShape.Column.VectorKind kind, DataViewType itemType, bool isKey, SchemaShape? annotations = null) =>
        (SchemaShape.Column)Invoke(ColumnCtor.Value, name, kind, itemType, isKey, annotations);

    /// <summary>Checks that every internal member this class uses exists in the loaded ML.NET.</summary>
    public static void Check() { _ = ColumnCtor.Value; _ = MaxEntCtor.Value; _ = PredictionCtor.Value; _ = LoaderAssemblyField.Value; }

    /// <summary>A linear softmax model: weights [classes][features], biases [classes].</summary>
    public static MaximumEntropyModelParameters MaximumEntropy(IHostEnvironment env, float[][] weights, float[] biases, int features)
    {
        var w = weights.Select(r => new VBuffer<float>(r.Length, (float[])r.Clone())).ToArray();
        return (MaximumEntropyModelParameters)Invoke(MaxEntCtor.Value, env, w, (float[])biases.Clone(), weights.Length, features, null, null);
    }

    /// <summary>ML.NET's multiclass scorer over <paramref name="model"/>: reads <paramref name="featureColumn"/>, writes Score and PredictedLabel
    /// (a key typed like <paramref name="labelColumn"/> in <paramref name="trainSchema"/>, with its key values).</summary>
    public static MulticlassPredictionTransformer<MaximumEntropyModelParameters> PredictionTransformer(IHostEnvironment env, MaximumEntropyModelParameters model,
        DataViewSchema trainSchema, string featureColumn, string labelColumn, string scoreColumn, string predictedLabelColumn) =>
        (MulticlassPredictionTransformer<MaximumEntropyModelParameters>)Invoke(PredictionCtor.Value, env, model, trainSchema, featureColumn, labelColumn, scoreColumn, predictedLabelColumn);

    /// <summary>Names <paramref name="assembly"/> as the loader assembly of the model entry being saved.</summary>
    public static void SetLoaderAssembly(ModelSaveContext ctx, Assembly assembly) => LoaderAssemblyField.Value.SetValue(ctx, assembly.FullName);

    private static object Invoke(ConstructorInfo ctor, params object?[] args)
    {
        try { return ctor.Invoke(args); }
        catch (TargetInvocationException e) when (e.InnerException is not null) { throw e.InnerException; }
    }

    private static ConstructorInfo Find(Type type, Type[] parameters) =>
        type.GetConstructor(Any, null, parameters, null) ?? throw Unsupported($"{type.Name}({string.Join(", ", parameters.Select(p => p.Name))})");

    private static PCamModelException Unsupported(string member) =>
        new($"This ML.NET ({typeof(MLContext).Assembly.GetName().Version}) has no {member}; PCam.MLNet's image-classification trainer is built for ML.NET 5.0. " +
            "Use the ML.NET version PCam.MLNet depends on.");
}
