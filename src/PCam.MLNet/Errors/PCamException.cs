namespace PCam.MLNet;

/// <summary>
/// Base of every problem the user must fix (bad file, key, option or backbone). Its message is one line that names
/// the file (and key or tensor) and what is wrong; the command line prints it as `error: MESSAGE` without a trace.
/// </summary>
public abstract class PCamException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A backbone problem: names the backbone JSON/ONNX file and the tensor or field at fault.</summary>
public sealed class PCamBackboneException(string message, Exception? inner = null) : PCamException(message, inner);

/// <summary>A data problem the user must fix: names the file and what is wrong.</summary>
public sealed class PCamDataException(string message, Exception? inner = null) : PCamException(message, inner);

/// <summary>A configuration problem: names the file, the key and what is wrong.</summary>
public sealed class PCamConfigException(string message, Exception? inner = null) : PCamException(message, inner);

/// <summary>A model problem the user must fix (missing, truncated or foreign zip, wrong input schema).</summary>
public sealed class PCamModelException(string message, Exception? inner = null) : PCamException(message, inner);

/// <summary>An export problem the user must fix (missing sidecar files, bad name or namespace).</summary>
public sealed class PCamExportException(string message, Exception? inner = null) : PCamException(message, inner);

/// <summary>What is wrong inside an annotation file; the reader prefixes the file's path and rethrows it as a
/// <see cref="PCamDataException"/>, so the parser deep inside need not carry the path around.</summary>
internal sealed class AnnotationFormatException(string message) : Exception(message);
