return PCam.Cli.PcamApp.Run(args, Console.Out, Console.Error, interactive: !Console.IsErrorRedirected, environment: Environment.GetEnvironmentVariable);
