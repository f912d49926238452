using PCam.MLNet.Data;
using PCam.MLNet.Slides.Annotations;
using PCam.MLNet.Tests.Data;
using Xunit;

namespace PCam.MLNet.Tests.Slides;

/// <summary>QuPath GeoJSON and Camelyon16 ASAP XML fixtures (Fixtures/README.md) read into the same tumour geometry.</summary>
public sealed class AnnotationTests : IDisposable
{
    static readonly string Fixtures = Path.Combine(RepoPaths.Root, "tests", "PCam.MLNet.Tests", "Slides", "Fixtures");
    readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    /// <summary>The fixtures' tumour, written out by hand (half-open squares, the triangle under x - y = 1200).</summary>
    static bool Expected(double x, double y)
    {
        static bool In(double x, double y, double a, double b) => x >= a && x < b && y >= a && y < b;
        bool square = In(x, y, 400, 1200) && !In(x, y, 600, 800) && !In(x, y, 1000, 1100);
        bool triangle = y >= 200 && x < 1800 && x - y >= 1200;
        return square || triangle || In(x, y, 1400, 1600);
    }

    [Theory]
    [InlineData("qupath-featurecollection.geojson")]
    [InlineData("qupath-array-0.2.geojson")]
    [InlineData("camelyon16.xml")]
    public void Fixture_marks_exactly_the_drawn_tumour(string file)
    {
        var a = AnnotationReader.Read(Path.Combine(Fixtures, file), width: 2000, height: 2000);
        Assert.True(a.HasTumour);
        int inside = 0;
        for (int b = 0; b < 40; b++)
            for (int c = 0; c < 40; c++)
            {
                double x = 13 + 50 * c, y = 29 + 50 * b; // never on an edge
                Assert.True(Expected(x, y) == a.IsTumour(x, y), $"{file}: ({x}, {y}) should be {(Expected(x, y) ? "tumour" : "normal")}");
                if (Expected(x, y)) inside++;
            }
        Assert.True(inside > 200, "the grid must cross the tumour");
    }

    [Fact]
    public void CentreLabelCountsTheCentrePixelsInsideThePolygon()
    {
        // Tumour x in [1000, 1100), y in [0, 1001). Window at (900, 900) with 2 level-0 px per window pixel: centre pixel
        // i is centred at 900 + (32 + i + 0.5) * 2 = 965 + 2i, so columns 18..31 (14) and rows 0..17 (18) are tumour.
        var a = new SlideAnnotation("t", [new AnnotationPolygon([[(1000, 0), (1100, 0), (1100, 1001), (1000, 1001)]])], []);
        var label = CentreLabel.Of(a, 900, 900, 2);
        Assert.Equal(14 * 18, label.TumourPixels);
        Assert.True(label.Label);
        Assert.Equal(252 / 1024.0, label.Fraction);
        // Shifted right by 36 window px (72 level-0 px) the centre ends at 1027 - 72 = 955 < 1000: normal by PCam's rule ...
        var right = CentreLabel.Of(a, 900 - 72, 900, 2);
        Assert.Equal(0, right.TumourPixels);
        Assert.False(right.Label);
        // ... but tumour lies within 8 px of its centre (the grown centre reaches 955 + 16 + ... >= 1000), so a margin makes it ambiguous.
        Assert.Null(CentreLabel.Of(a, 900 - 72, 900, 2, marginPixels: 32).Label);
        Assert.False(CentreLabel.Of(a, 900 - 72 - 200, 900, 2, marginPixels: 32).Label);
    }

    [Fact]
    public void QupathDerivedClassNamesAndPlainStringClassesAreRead()
    {
        var path = _dir["derived.geojson"];
        File.WriteAllText(path, """
            {"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,0]]]},
             "properties":{"classification":{"names":["Tumor","Grade 2"],"color":[1,2,3]}}}
            """);
        Assert.True(AnnotationReader.Read(path, new AnnotationOptions { PositiveClass = "Tumor: Grade 2" }).HasTumour);
        File.WriteAllText(path, """[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,0]]]},"properties":{"classification":"Carcinoma"}}]""");
        Assert.True(AnnotationReader.Read(path, new AnnotationOptions { PositiveClass = "carcinoma" }).HasTumour);
    }

    [Theory]
    [InlineData("bad.geojson", "{\"type\": \"FeatureCollection\", \"features\": [", "not valid JSON")]
    [InlineData("bad.xml", "<ASAP_Annotations><Annotations><Annotation>", "not valid XML")]
    [InlineData("open.geojson", """{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10]]]},"properties":{"classification":{"name":"Tumor"}}}]}""", "not closed")]
    [InlineData("class.geojson", """{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,0]]]},"properties":{"classification":{"name":"Tumour"}}}]}""", "no feature of class 'Tumor' (classes in the file: Tumour)")]
    [InlineData("group.xml", """<ASAP_Annotations><Annotations><Annotation Name="A" Type="Polygon" PartOfGroup="Lesion"><Coordinates><Coordinate Order="0" X="1" Y="1"/><Coordinate Order="1" X="9" Y="1"/><Coordinate Order="2" X="9" Y="9"/></Coordinates></Annotation></Annotations></ASAP_Annotations>""", "groups in the file: Lesion")]
    [InlineData("outside.geojson", """[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[5000,0],[5000,10],[0,0]]]},"properties":{"classification":{"name":"Tumor"}}}]""", "outside the slide (2000x2000")]
    [InlineData("outside.xml", """<ASAP_Annotations><Annotations><Annotation Name="A" Type="Polygon" PartOfGroup="_0"><Coordinates><Coordinate Order="0" X="-100" Y="1"/><Coordinate Order="1" X="9" Y="1"/><Coordinate Order="2" X="9" Y="9"/></Coordinates></Annotation></Annotations></ASAP_Annotations>""", "outside the slide")]
    [InlineData("point.geojson", """[{"type":"Feature","geometry":{"type":"Point","coordinates":[5,5]},"properties":{"classification":{"name":"Tumor"}}}]""", "does not enclose a region")]
    [InlineData("two.xml", """<ASAP_Annotations><Annotations><Annotation Name="A" Type="Polygon" PartOfGroup="Tumor"><Coordinates><Coordinate Order="0" X="1" Y="1"/><Coordinate Order="1" X="9" Y="1"/></Coordinates></Annotation></Annotations></ASAP_Annotations>""", "at least 3")]
    public void Malformed_files_are_one_error_naming_the_file(string name, string content, string expected)
    {
        var path = _dir[name];
        File.WriteAllText(path, content);
        var e = Assert.Throws<PCamDataException>(() => AnnotationReader.Read(path, width: 2000, height: 2000));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void AnnotationFileIsFoundBySlideStem()
    {
        File.WriteAllText(_dir["s1.xml"], "<ASAP_Annotations/>");
        File.WriteAllText(_dir["s2.geojson"], "[]");
        Assert.Equal(_dir["s1.xml"], AnnotationReader.Find(_dir.Path, "s1"));
        Assert.Equal(_dir["s2.geojson"], AnnotationReader.Find(_dir.Path, "s2"));
        Assert.Null(AnnotationReader.Find(_dir.Path, "s3"));
        Assert.False(AnnotationReader.Read(_dir["s2.geojson"]).HasTumour); // an empty export: a normal slide
    }

    [Fact]
    public void ScanlineCountsEqualPointByPointTests()
    {
        // A 40-point star with a hole and an exclusion, windows at odd offsets and pixel sizes: the cached scanline count
        // must decide every centre pixel as IsTumour does.
        var rng = new Random(5);
        var star = Enumerable.Range(0, 40).Select(k => { double a = k * Math.PI / 20, r = k % 2 == 0 ? 900 : 400 + rng.Next(200); return (1000 + r * Math.Cos(a), 1000 + r * Math.Sin(a)); }).ToArray();
        var hole = Enumerable.Range(0, 12).Select(k => { double a = -k * Math.PI / 6; return (1000 + 150 * Math.Cos(a), 1000 + 150 * Math.Sin(a)); }).ToArray();
        var a = new SlideAnnotation("t", [new AnnotationPolygon([star, hole])], [new AnnotationPolygon([[(1200.5, 700.25), (1500, 700.25), (1350, 950)]])]);
        foreach (double p in new[] { 1.0, 2.0, 1.62, 3.7 })
            for (double y0 = 0; y0 < 1900; y0 += 97.3)
                for (double x0 = 0; x0 < 1900; x0 += 131.1)
                {
                    int brute = 0;
                    for (int j = 0; j < 32; j++)
                        for (int i = 0; i < 32; i++)
                            if (a.IsTumour(x0 + (i + 0.5) * p, y0 + (j + 0.5) * p)) brute++;
                    Assert.Equal(brute, a.CountTumourPixels(x0, y0, 32, p));
                }
    }
}
