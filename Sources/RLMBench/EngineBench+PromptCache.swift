import Foundation
import ModelSimulator
import RLMKit
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

extension EngineBench {
    /// A root model and the wire it is reached over, priced at its published list prices.
    struct CachedWire: Sendable {
        var label: String
        var model: String
        var anthropic: Bool
    }

    static let cachedWires = [CachedWire(label: "GPT-5", model: "gpt-5", anthropic: false),
                              CachedWire(label: "Claude Sonnet 4.5", model: "claude-sonnet-4-5", anthropic: true)]

    /// Root turns of the prompt-cache section's run.
    static let promptCacheTurns = 20

    /// The `promptcache` section: the same 20-turn run (each turn reads 1,500 more characters of the context, so
    /// the conversation grows as a real exploration does) against a simulated provider without and with its
    /// prompt cache, over OpenAI's wire at GPT-5's prices and Anthropic's at Claude Sonnet 4.5's. The figure is
    /// the root model's input cost; the run is deterministic, so one run of each is enough.
    func promptCaching(onFigure: @Sendable (EngineFigure) -> Void) async throws -> [EngineFigure] {
        let context = workDirectory.appendingPathComponent("prompt-cache-context.txt")
        if !FileManager.default.fileExists(atPath: context.path) {
            let lines = (0..<2_000).map { "record \($0): the value of item \($0) is \($0 * 7 % 1_000)" }
            try lines.joined(separator: "\n").write(to: context, atomically: true, encoding: .utf8)
        }
        var figures: [EngineFigure] = []
        for wire in Self.cachedWires {
            guard let price = PriceTable.builtIn.price(for: wire.model) else { continue }
            let plain = try await rootInputUSD(wire: wire, caching: .off, context: context.path, price: price)
            let cached = try await rootInputUSD(wire: wire, caching: .providers, context: context.path, price: price)
            let turns = "\(Self.promptCacheTurns) root turns, \(wire.label) (\(wire.anthropic ? "Anthropic" : "OpenAI") wire)"
            let new = [
                EngineFigure(section: "promptcache", measure: "\(turns): root input cost, no cache", unit: "mUSD",
                             runs: [plain.usd * 1_000], note: String(format: "$%.5f, %d input tokens", plain.usd, plain.usage.inputTokens)),
                EngineFigure(section: "promptcache", measure: "\(turns): root input cost, cached", unit: "mUSD",
                             runs: [cached.usd * 1_000],
                             note: String(format: "$%.5f; %d of %d input tokens read from the cache, %d written", cached.usd,
                                          cached.usage.cacheReadTokens, cached.usage.inputTokens, cached.usage.cacheWriteTokens)),
                EngineFigure(section: "promptcache", measure: "\(turns): times cheaper with the cache", unit: "x",
                             runs: [cached.usd > 0 ? plain.usd / cached.usd : 0], note: "goal: at least 3"),
            ]
            new.forEach(onFigure)
            figures += new
        }
        return figures
    }

    /// Runs the 20 turns against a fresh simulator and prices the root model's input tokens.
    private func rootInputUSD(wire: CachedWire, caching: SimulatedPromptCaching, context: String,
                              price: ModelPrice) async throws -> (usd: Double, usage: TokenUsage) {
        let turns = Self.promptCacheTurns
        let server = try await ModelSimulator.start(models: [wire.model], promptCaching: caching) { request in
            let turn = request.assistantTurns + 1
            let code = turn < turns ? "print(context[\((turn - 1) * 1_500):\(turn * 1_500)])" : "FINAL('read it all')"
            return SimulatedReply(text: "Reading part \(turn).\n```repl\n\(code)\n```")
        }
        defer { Task { await server.shutdown() } }
        var environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
                           "HOME": NSTemporaryDirectory(), "RLM_MODEL": wire.model]
        if wire.anthropic {
            environment["RLM_PROVIDER"] = "anthropic"
            environment["RLM_BASE_URL"] = "http://127.0.0.1:\(server.port)"
            environment["ANTHROPIC_API_KEY"] = "simulated"
        } else {
            environment["RLM_BASE_URL"] = server.baseURL
        }
        let result = try await Subprocess.run(
            .path(FilePath(rlmBinary)),
            arguments: ["ask", "What do the records say?", "--context", context, "--json", "--quiet", "--no-log",
                        "--max-iterations", "\(turns)"],
            environment: .custom(environment.reduce(into: [:]) { values, entry in
                if let key = Environment.Key(rawValue: entry.key) { values[key] = entry.value }
            }),
            input: .none, output: .string(limit: 1 << 24), error: .string(limit: 1 << 20))
        guard case .exited(0) = result.terminationStatus, let data = result.standardOutput.data(using: .utf8),
              let summary = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let usage = (summary["usage"] as? [String: Any])?[wire.model] as? [String: Any] else {
            throw BenchInputError("`rlm ask` failed (\(result.terminationStatus)): \(result.standardError.suffix(600))")
        }
        let counts = try JSONDecoder().decode(TokenUsage.self, from: JSONSerialization.data(withJSONObject: usage))
        var input = counts
        input.outputTokens = 0
        return (price.cost(of: input), counts)
    }
}
