// The benchmarks measure the library's own types; they keep the namespaces they were written against.
global using PCam.MLNet;
global using PCam.MLNet.Configuration;
global using PCam.MLNet.Data;
global using PCam.MLNet.Featurization;
global using PCam.MLNet.Featurization.Passes;
global using PCam.MLNet.Training;
