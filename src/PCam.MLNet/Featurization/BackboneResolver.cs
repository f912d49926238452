namespace PCam.MLNet.Featurization;

/// <summary>Turns the config's Backbone value (a built-in name or a backbone JSON path) into a BackboneConfig.</summary>
public static class BackboneResolver
{
    public static readonly string[] BuiltIn = ["resnet18-imagenet"];

    public static BackboneConfig Resolve(string nameOrPath)
    {
        if (nameOrPath.Equals("resnet18-imagenet", StringComparison.OrdinalIgnoreCase) || nameOrPath.Equals("resnet18", StringComparison.OrdinalIgnoreCase))
            return BackboneConfig.ResNet18();
        if (nameOrPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            return BackboneConfig.Load(nameOrPath);
        throw new ArgumentException($"Unknown backbone '{nameOrPath}': use one of {string.Join(", ", BuiltIn)} or a backbone .json file.");
    }
}
