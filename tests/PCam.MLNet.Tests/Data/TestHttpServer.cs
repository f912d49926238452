using System.Net;
using System.Net.Sockets;

namespace PCam.MLNet.Tests.Data;

/// <summary>
/// A tiny HTTP file server on 127.0.0.1 with Range support. It can cut one transfer half-way (to test resume)
/// and serve corrupted bytes (to test MD5 failures).
/// </summary>
public sealed class TestHttpServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Dictionary<string, byte[]> _files = new();
    private readonly Task _loop;
    public string BaseUrl { get; }
    public int Requests;
    public List<string> RangeHeaders { get; } = [];
    /// <summary>File whose next full-body transfer is cut after half its bytes (once).</summary>
    public string? CutOnce { get; set; }
    /// <summary>Files served with flipped bytes.</summary>
    public HashSet<string> Corrupt { get; } = [];

    public TestHttpServer()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        BaseUrl = $"http://127.0.0.1:{port}/";
        _listener.Prefixes.Add(BaseUrl);
        _listener.Start();
        _loop = Task.Run(Loop);
    }

    public void Add(string name, byte[] content) { lock (_files) _files[name] = content; }

    private async Task Loop()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception) { return; }
            _ = Task.Run(() => Serve(ctx));
        }
    }

    private void Serve(HttpListenerContext ctx)
    {
        Interlocked.Increment(ref Requests);
        var name = ctx.Request.Url!.AbsolutePath.TrimStart('/');
        var res = ctx.Response;
        try
        {
            byte[]? data;
            lock (_files) _files.TryGetValue(name, out data);
            if (data == null) { res.StatusCode = 404; res.Close(); return; }
            if (Corrupt.Contains(name)) { data = (byte[])data.Clone(); for (int i = 100; i < data.Length; i += 97) data[i] ^= 0x5A; }
            long from = 0;
            var range = ctx.Request.Headers["Range"];
            lock (RangeHeaders) RangeHeaders.Add(range ?? "");
            if (range != null && range.StartsWith("bytes=") && range.EndsWith('-'))
            {
                from = long.Parse(range[6..^1]);
                if (from >= data.Length) { res.StatusCode = 416; res.Headers["Content-Range"] = $"bytes */{data.Length}"; res.Close(); return; }
                res.StatusCode = 206;
                res.Headers["Content-Range"] = $"bytes {from}-{data.Length - 1}/{data.Length}";
            }
            res.ContentLength64 = data.Length - from;
            if (CutOnce == name && from == 0)
            {
                CutOnce = null;
                res.OutputStream.Write(data, 0, data.Length / 2);
                res.OutputStream.Flush();
                res.Abort(); // drop the connection mid-body
                return;
            }
            res.OutputStream.Write(data, (int)from, (int)(data.Length - from));
            res.Close();
        }
        catch (Exception) { try { res.Abort(); } catch (Exception) { } }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try { _loop.Wait(2000); } catch (Exception) { }
    }
}
