using System.Reflection;
using System.Reflection.Emit;
using Xunit;

namespace PCam.MLNet.Tests.Architecture;

/// <summary>
/// The library's folders are layers that point one way (docs/architecture.md). Every type a namespace's code mentions
/// (signatures, base types, attributes, fields, and the IL of every method body, lambdas and iterators included) is read
/// from the compiled assembly, so a back-edge fails here whatever way it is spelled (a using, a full name, a var).
/// </summary>
public class LayerTests
{
    /// <summary>
    /// Bottom to top. A namespace (and its sub-namespaces) may use the layers below it and itself, never a layer above
    /// or a sibling on its own row. "" is the root namespace PCam.MLNet: the exception types (Errors/) and the test
    /// fault-injection hook. The public ML.NET-style API (Api/: the catalog extensions and the featurizer estimator) also
    /// declares the root namespace, as ML.NET's own catalog extensions declare Microsoft.ML, so `using PCam.MLNet;` is all
    /// a user writes; its types are a layer of their own between Configuration and Training, whose trainer is built on the
    /// estimator (see <see cref="LayerOf"/>).
    /// </summary>
    internal static readonly string[][] Layers =
    [
        [""],
        ["Data"],
        ["Featurization"],
        ["Configuration"],
        [ApiLayer],
        ["Training"],
        ["Reporting", "Vision"],
        ["Export", "Slides"],
    ];

    /// <summary>The name the layer table gives the API's types (they declare the root namespace, see <see cref="LayerOf"/>).</summary>
    private const string ApiLayer = "Api";

    private static readonly Assembly Library = typeof(PCamException).Assembly;

    [Fact]
    public void EveryNamespaceOfTheLibraryHasALayer()
    {
        // Compiler-generated helpers (no namespace, System.Text.RegularExpressions.Generated) are not ours to place.
        var names = Library.GetTypes().Select(t => t.Namespace)
            .Where(ns => ns is not null && ns.StartsWith("PCam.MLNet", StringComparison.Ordinal) && Layer(ns) is null).Distinct().ToList();
        Assert.True(names.Count == 0,
            $"namespaces without a layer: {string.Join(", ", names)}; add them to {nameof(Layers)} and docs/architecture.md.");
    }

    [Fact]
    public void NoNamespaceUsesALayerAboveItOrASibling()
    {
        var violations = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in Library.GetTypes())
        {
            var from = LayerOf(type);
            if (from is null) continue;
            foreach (var used in UsedTypes(type))
            {
                if (used.Assembly != Library) continue;
                var to = LayerOf(used);
                if (to is null || to.Value.Name == from.Value.Name) continue;
                if (to.Value.Rank >= from.Value.Rank)
                    violations.Add($"{Describe(from.Value)} -> {Describe(to.Value)}: {Outer(type).FullName} uses {Outer(used).FullName}");
            }
        }
        Assert.True(violations.Count == 0, "layer back-edges:\n" + string.Join("\n", violations));
    }

    [Fact]
    public void TheProductHoldsNoBenchmarkCode()
    {
        // Benchmarks and synthetic models live in PCam.Benchmarks, which only `pcam bench` and the tests reference.
        Assert.DoesNotContain(Library.GetReferencedAssemblies(), a => a.Name == "PCam.Benchmarks");
        Assert.DoesNotContain(Library.GetTypes(), t => t.Name.EndsWith("Benchmark", StringComparison.Ordinal) || t.Name == "TtaAblation");
    }

    [Fact]
    public void EveryExceptionTypeLivesInErrors()
    {
        var exceptions = Library.GetTypes().Where(t => typeof(Exception).IsAssignableFrom(t)).ToList();
        Assert.NotEmpty(exceptions);
        Assert.All(exceptions, t => Assert.Equal("PCam.MLNet", t.Namespace));
        var errors = Path.Combine(RepoPaths.Root, "src", "PCam.MLNet", "Errors");
        foreach (var t in exceptions.Where(t => !t.IsNested))
            Assert.True(Directory.EnumerateFiles(errors, "*.cs").Any(f => File.ReadAllText(f).Contains($"class {t.Name}(", StringComparison.Ordinal)
                                                                              || File.ReadAllText(f).Contains($"class {t.Name} ", StringComparison.Ordinal)),
                $"{t.Name} is not declared in src/PCam.MLNet/Errors/.");
    }

    [Fact]
    public void EverySourceFileDeclaresTheNamespaceOfItsFolder()
    {
        // Errors/ holds the root namespace (the exception types every layer throws), and so does Api/ (the catalog
        // extensions users reach with `using PCam.MLNet;`); every other folder is its namespace.
        var src = Path.Combine(RepoPaths.Root, "src", "PCam.MLNet");
        var wrong = new List<string>();
        foreach (var file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(src, Path.GetDirectoryName(file)!);
            if (relative.Split(Path.DirectorySeparatorChar)[0] is "bin" or "obj") continue;
            var expected = relative is "." or "Errors" or "Api" ? "PCam.MLNet" : "PCam.MLNet." + relative.Replace(Path.DirectorySeparatorChar, '.');
            var declared = File.ReadLines(file).FirstOrDefault(l => l.StartsWith("namespace ", StringComparison.Ordinal))?["namespace ".Length..].TrimEnd(';', ' ');
            if (declared != expected) wrong.Add($"{Path.GetRelativePath(src, file)} declares {declared}, expected {expected}");
        }
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    [Fact]
    public void TheCheckSeesABackEdgeInIl()
    {
        // The scan must see references that only appear in method bodies (not in any signature): ExternalData's
        // checks throw PCamBackboneException from inside a method, which is the kind of edge a using-line check misses.
        var external = Library.GetType("PCam.MLNet.Featurization.ExternalData", throwOnError: true)!;
        Assert.Contains(typeof(PCamBackboneException), UsedTypes(external));
    }

    /// <summary>A type's layer: its namespace's, except that the root namespace's types other than the errors (exceptions and
    /// the test hooks) are the public API, the Api layer.</summary>
    private static (string Name, int Rank)? LayerOf(Type type)
    {
        var outer = Outer(type);
        if (outer.Namespace == "PCam.MLNet" && !typeof(Exception).IsAssignableFrom(outer) && outer.Name != "TestHooks")
            return Layer("PCam.MLNet." + ApiLayer);
        return Layer(outer.Namespace);
    }

    private static (string Name, int Rank)? Layer(string? ns)
    {
        if (ns is null || (ns != "PCam.MLNet" && !ns.StartsWith("PCam.MLNet.", StringComparison.Ordinal))) return null;
        var top = ns == "PCam.MLNet" ? "" : ns["PCam.MLNet.".Length..].Split('.')[0];
        for (var rank = 0; rank < Layers.Length; rank++)
            if (Layers[rank].Contains(top)) return (top, rank);
        return null;
    }

    private static string Describe((string Name, int Rank) layer) => layer.Name.Length == 0 ? "Errors (PCam.MLNet)" : layer.Name;

    private static Type Outer(Type t) { while (t.DeclaringType is not null) t = t.DeclaringType; return t; }

    private const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    /// <summary>Every type mentioned by a type's declaration and its members' signatures and bodies (generic arguments unwrapped).</summary>
    internal static HashSet<Type> UsedTypes(Type type)
    {
        var result = new HashSet<Type>();
        void Add(Type? t)
        {
            if (t is null) return;
            if (t.HasElementType) { Add(t.GetElementType()); return; }
            if (t.IsGenericParameter) return;
            if (!result.Add(t)) return;
            if (t.IsGenericType && !t.IsGenericTypeDefinition)
            {
                Add(t.GetGenericTypeDefinition());
                foreach (var a in t.GetGenericArguments()) Add(a);
            }
        }
        void Attributes(IEnumerable<CustomAttributeData> attributes)
        {
            foreach (var a in attributes)
            {
                Add(a.AttributeType);
                foreach (var arg in a.ConstructorArguments.Concat(a.NamedArguments.Select(n => n.TypedValue)))
                    if (arg.Value is Type t) Add(t);
            }
        }

        Add(type.BaseType);
        foreach (var i in type.GetInterfaces()) Add(i);
        Attributes(type.CustomAttributes);
        foreach (var f in type.GetFields(All)) { Add(f.FieldType); Attributes(f.CustomAttributes); }
        foreach (var p in type.GetProperties(All)) { Add(p.PropertyType); Attributes(p.CustomAttributes); }
        foreach (var e in type.GetEvents(All)) Add(e.EventHandlerType);
        foreach (var m in type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All)))
        {
            Attributes(m.CustomAttributes);
            if (m is MethodInfo mi) Add(mi.ReturnType);
            foreach (var p in m.GetParameters()) { Add(p.ParameterType); Attributes(p.CustomAttributes); }
            var body = m.GetMethodBody();
            if (body is null) continue;
            foreach (var local in body.LocalVariables) Add(local.LocalType);
            foreach (var c in body.ExceptionHandlingClauses)
                if (c.Flags == ExceptionHandlingClauseOptions.Clause) Add(c.CatchType);
            foreach (var member in IlMembers(m, body.GetILAsByteArray() ?? []))
                switch (member)
                {
                    case Type t: Add(t); break;
                    case FieldInfo f: Add(f.DeclaringType); Add(f.FieldType); break;
                    case MethodBase mb:
                        Add(mb.DeclaringType);
                        if (mb is MethodInfo { IsGenericMethod: true } g) foreach (var a in g.GetGenericArguments()) Add(a);
                        break;
                }
        }
        return result;
    }

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (OpCode)f.GetValue(null)!).ToDictionary(o => o.Value);

    /// <summary>The members and types named by the metadata tokens in a method's IL.</summary>
    private static IEnumerable<MemberInfo> IlMembers(MethodBase method, byte[] il)
    {
        var module = method.Module;
        var typeArgs = method.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        var methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (var i = 0; i < il.Length;)
        {
            short value = il[i++];
            if (value == 0xFE) value = (short)(0xFE00 | il[i++]);
            var op = OpCodesByValue[value];
            switch (op.OperandType)
            {
                case OperandType.InlineNone: break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar: i += 1; break;
                case OperandType.InlineVar: i += 2; break;
                case OperandType.InlineI8 or OperandType.InlineR: i += 8; break;
                case OperandType.InlineSwitch: i += 4 + 4 * BitConverter.ToInt32(il, i); break;
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok or OperandType.InlineType:
                {
                    var token = BitConverter.ToInt32(il, i);
                    i += 4;
                    MemberInfo? member = null;
                    try { member = module.ResolveMember(token, typeArgs, methodArgs); }
                    catch (ArgumentException) { }
                    catch (TypeLoadException) { }
                    catch (FileNotFoundException) { }
                    if (member is not null) yield return member;
                    break;
                }
                default: i += 4; break; // InlineBrTarget, InlineI, InlineSig, InlineString, ShortInlineR
            }
        }
    }
}
