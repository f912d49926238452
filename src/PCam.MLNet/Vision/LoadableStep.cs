using Microsoft.ML;
using Microsoft.ML.Data;

namespace PCam.MLNet.Vision;

/// <summary>
/// A fitted ML.NET transformer that saves exactly as itself, except that its saved entry names PCam.MLNet as the
/// assembly to load first. It wraps a transformer whose own loader lives in Microsoft.ML.Data (registered before any
/// entry loads); ML.NET then registers this assembly before the next entry looks up the CustomMapping contract, so an app
/// that only references the PCam.MLNet package loads the zip with <c>mlContext.Model.Load</c> and no registration code.
/// Loading gives back ML.NET's own transformer (this wrapper exists only between Fit and Save).
/// </summary>
internal sealed class LoadableStep(ITransformer inner) : ITransformer, ICanSaveModel, IDisposable
{
    public bool IsRowToRowMapper => inner.IsRowToRowMapper;
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => inner.GetOutputSchema(inputSchema);
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => inner.GetRowToRowMapper(inputSchema);
    public IDataView Transform(IDataView input) => inner.Transform(input);

    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        ((ICanSaveModel)inner).Save(ctx);
        MlNetInternals.SetLoaderAssembly(ctx, typeof(LoadableStep).Assembly);
    }

    public void Dispose() => (inner as IDisposable)?.Dispose();
}
