// The exception types (PCam.MLNet: src/PCam.MLNet/Errors) are caught in every command.
global using PCam.MLNet;
