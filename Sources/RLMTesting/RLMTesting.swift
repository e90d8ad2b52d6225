// RLMTesting: what an app needs to test its RLM code without a network — scripted models, a function model for
// sub-calls, the in-process OpenAI-wire simulator, and a real REPL to run cells in.
@_exported import ModelSimulator
