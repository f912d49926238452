namespace PCam.MLNet.Slides.Heatmap;

/// <summary>One connected region of grid cells: its outer ring, its holes (closed rings of grid corners) and its cells.</summary>
public sealed record CellRegion(List<(int X, int Y)> Outer, List<List<(int X, int Y)>> Holes, List<int> Cells);

/// <summary>
/// Connected regions (4-connectivity) of marked cells in a W x H grid, traced as rectilinear polygons whose vertices are
/// grid corners: corner (x, y) is the top-left of cell (x, y). Outer rings run clockwise on screen (y down), holes
/// anticlockwise, each closed (first vertex repeated), collinear vertices removed.
/// </summary>
public static class RegionPolygons
{
    public static List<CellRegion> Trace(bool[] marked, int width, int height)
    {
        var label = new int[marked.Length];
        var regions = new List<CellRegion>();
        var stack = new Stack<int>();
        for (int start = 0; start < marked.Length; start++)
        {
            if (!marked[start] || label[start] != 0) continue;
            int id = regions.Count + 1;
            var cells = new List<int>();
            label[start] = id;
            stack.Push(start);
            while (stack.Count > 0)
            {
                int c = stack.Pop();
                cells.Add(c);
                int cx = c % width, cy = c / width;
                void Visit(int nx, int ny)
                {
                    if (nx < 0 || ny < 0 || nx >= width || ny >= height) return;
                    int n = ny * width + nx;
                    if (!marked[n] || label[n] != 0) return;
                    label[n] = id;
                    stack.Push(n);
                }
                Visit(cx + 1, cy); Visit(cx - 1, cy); Visit(cx, cy + 1); Visit(cx, cy - 1);
            }
            bool In(int x, int y) => x >= 0 && y >= 0 && x < width && y < height && label[y * width + x] == id;
            var rings = Rings(cells, width, In);
            // The ring with the largest area is the outline (positive, clockwise on screen); the others are holes.
            rings.Sort((a, b) => Math.Abs(Area(b)).CompareTo(Math.Abs(Area(a))));
            regions.Add(new CellRegion(rings[0], rings.Skip(1).ToList(), cells));
        }
        return regions;
    }

    /// <summary>Boundary edges with the region on their right (screen coordinates), linked into rings.</summary>
    private static List<List<(int X, int Y)>> Rings(List<int> cells, int width, Func<int, int, bool> inside)
    {
        // Directed edges from corner to corner; at a corner touched by two diagonal cells two edges leave it.
        var outgoing = new Dictionary<(int, int), List<(int, int)>>();
        void Edge((int, int) a, (int, int) b)
        {
            if (!outgoing.TryGetValue(a, out var list)) outgoing[a] = list = new List<(int, int)>(1);
            list.Add(b);
        }
        foreach (var c in cells)
        {
            int x = c % width, y = c / width;
            if (!inside(x, y - 1)) Edge((x, y), (x + 1, y));         // top, left to right
            if (!inside(x + 1, y)) Edge((x + 1, y), (x + 1, y + 1)); // right, downwards
            if (!inside(x, y + 1)) Edge((x + 1, y + 1), (x, y + 1)); // bottom, right to left
            if (!inside(x - 1, y)) Edge((x, y + 1), (x, y));         // left, upwards
        }
        var rings = new List<List<(int X, int Y)>>();
        while (outgoing.Count > 0)
        {
            var first = outgoing.First().Key;
            var ring = new List<(int X, int Y)> { first };
            var at = first;
            (int, int) dir = (0, 0);
            while (true)
            {
                var options = outgoing[at];
                // At a pinch corner keep the region on the right by turning right first (cells touching only at a
                // corner stay apart, as 4-connectivity says).
                int pick = 0;
                if (options.Count > 1)
                    pick = options.FindIndex(o => Cross(dir, (o.Item1 - at.Item1, o.Item2 - at.Item2)) > 0) is var r and >= 0 ? r : 0;
                var next = options[pick];
                options.RemoveAt(pick);
                if (options.Count == 0) outgoing.Remove(at);
                dir = (next.Item1 - at.Item1, next.Item2 - at.Item2);
                at = next;
                if (at == first) break;
                ring.Add(at);
            }
            rings.Add(Simplify(ring));
        }
        return rings;
    }

    /// <summary>z of a x b in screen coordinates: positive = b turns clockwise (right) from a.</summary>
    private static int Cross((int X, int Y) a, (int X, int Y) b) => a.X * b.Y - a.Y * b.X;

    private static List<(int X, int Y)> Simplify(List<(int X, int Y)> ring)
    {
        var result = new List<(int X, int Y)>();
        int n = ring.Count;
        for (int i = 0; i < n; i++)
        {
            var prev = ring[(i + n - 1) % n];
            var cur = ring[i];
            var next = ring[(i + 1) % n];
            if ((prev.X == cur.X && cur.X == next.X) || (prev.Y == cur.Y && cur.Y == next.Y)) continue;
            result.Add(cur);
        }
        result.Add(result[0]);
        return result;
    }

    /// <summary>Shoelace area of a closed ring; positive for clockwise on screen (y down).</summary>
    public static double Area(IReadOnlyList<(int X, int Y)> ring)
    {
        double a = 0;
        for (int i = 0; i + 1 < ring.Count; i++) a += (double)ring[i].X * ring[i + 1].Y - (double)ring[i + 1].X * ring[i].Y;
        return a / 2;
    }
}
