namespace PCam.MLNet;

/// <summary>
/// Base of every problem the user must fix (bad file, key, option or backbone). Its message is one line that names
/// the file (and key or tensor) and what is wrong; the command line prints it as `error: MESSAGE` without a trace.
/// </summary>
public abstract class PCamException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A backbone problem: names the backbone JSON/ONNX file and the tensor or field at fault.</summary>
public sealed class PCamBackboneException(string message, Exception? inner = null) : PCamException(message, inner);
