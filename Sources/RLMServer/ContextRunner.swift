import Foundation
import RLMKit

// TEMPORARY until RLMSession lands: no cache, every request runs `complete`.
struct ContextRunner: Sendable {
    let rlm: RLM
    let logDirectory: URL?
    let cache: ContextCache
    let metrics: ServerMetrics

    struct Answered: Sendable {
        var result: RLMResult
        var loadSeconds: Double
        var cached: Bool
        /// `stop` for an answer, `length` for a partial answer that a limit cut short.
        var finishReason: String { result.status == .answered ? "stop" : "length" }
        var summary: RunSummary { RunSummary(result, loadSeconds: loadSeconds, cached: cached) }
    }

    func ask(_ query: String, context: ResolvedContext, onEvent: (@Sendable (RLMEvent) -> Void)?) async throws -> Answered {
        let load = LoadBox()
        let result = try await rlm.complete(query: query, context: context.context) { event in
            if event.event == .contextLoaded, event.trajectory == "0" { load.seconds = event.seconds ?? 0 }
            onEvent?(event)
        }
        return Answered(result: result, loadSeconds: load.seconds, cached: false)
    }
}
final class LoadBox: @unchecked Sendable { var seconds = 0.0 }
actor ContextCache {
    init(maxBytes: Int, metrics: ServerMetrics) {}
    func closeAll() async {}
}
