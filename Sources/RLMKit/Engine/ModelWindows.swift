import Foundation

/// A model's context window as the run uses it, and where the figure came from.
public struct ResolvedWindow: Sendable, Equatable {
    public var tokens: Int
    /// "configured", what the server reported ("llama.cpp GET /props n_ctx"…), "known window of claude", or
    /// "default for an unknown model".
    public var source: String

    /// Characters of text one prompt to this model may carry, leaving room for instructions and the reply.
    var promptChars: Int { max(2_000, (tokens - min(tokens / 4, 4_096)) * 3) }
}

/// The windows of the run's root and sub models.
struct RunWindows: Sendable {
    var root: ResolvedWindow
    var sub: ResolvedWindow
}

/// Where a run's context windows come from: the configuration, else the model's server, else the published
/// window of a hosted model family, else a conservative default. Open-weight families (Qwen, Llama…) are not
/// in the table: a local server runs them with whatever window it was started with, often far below the
/// model's maximum.
enum ModelWindows {
    /// The window assumed for a model nobody described.
    static let unknownModelTokens = 8_192

    /// Published windows of hosted model families.
    static func known(for model: String) -> (family: String, tokens: Int)? {
        let name = model.lowercased()
        let table: [(String, Int)] = [
            ("gpt-4.1", 1_000_000), ("gpt-5", 400_000), ("gpt-4o", 128_000), ("o3", 200_000), ("o4", 200_000),
            ("claude", 200_000), ("gemini", 1_000_000),
        ]
        return table.first { name.hasPrefix($0.0) || name.contains("/" + $0.0) }.map { ($0.0, $0.1) }
    }

    static func resolve(configured: Int?, model: any LanguageModel) async -> ResolvedWindow {
        if let configured { return ResolvedWindow(tokens: configured, source: "configured") }
        if let discovered = await model.discoverContextWindow(), discovered.tokens > 0 {
            return ResolvedWindow(tokens: discovered.tokens, source: discovered.source)
        }
        if let known = known(for: model.name) {
            return ResolvedWindow(tokens: known.tokens, source: "known window of \(known.family) models")
        }
        return ResolvedWindow(tokens: unknownModelTokens, source: "default for a model whose window is unknown")
    }

    /// Both windows; the sub model is asked only when it is another model or endpoint.
    static func resolve(for configuration: RLM) async -> RunWindows {
        async let root = resolve(configured: configuration.rootModelWindowTokens, model: configuration.rootModel)
        let sub: ResolvedWindow
        if let subModel = configuration.subModel {
            sub = await resolve(configured: configuration.subModelWindowTokens, model: subModel)
        } else if let configured = configuration.subModelWindowTokens {
            sub = ResolvedWindow(tokens: configured, source: "configured")
        } else {
            sub = await root
        }
        return RunWindows(root: await root, sub: sub)
    }

    /// Characters of stdout (and of stderr) per block the root model is shown: the configured figure, kept to
    /// about an eighth of the root window so that a turn's output fits beside the prompt.
    static func outputChars(configured: Int, rootWindow: ResolvedWindow) -> Int {
        min(configured, max(1_000, rootWindow.tokens / 2))
    }
}
