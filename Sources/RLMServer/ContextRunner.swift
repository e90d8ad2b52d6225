import Foundation
import RLMKit

/// Answers one question about one context: in a loaded session from the cache when the same content was loaded
/// before, else in a new one, which the cache keeps afterwards while it fits.
struct ContextRunner: Sendable {
    let rlm: RLM
    /// Where each run's trajectory log goes (one file per run); nil writes none.
    let logDirectory: URL?
    let cache: ContextCache
    let metrics: ServerMetrics

    struct Answered: Sendable {
        var result: RLMResult
        /// Seconds this request spent loading the context; 0 when a loaded session was reused.
        var loadSeconds: Double
        var cached: Bool
        /// `stop` for an answer, `length` for a partial answer that a limit cut short.
        var finishReason: String { result.status == .answered ? "stop" : "length" }
        var summary: RunSummary { RunSummary(result, loadSeconds: loadSeconds, cached: cached) }
    }

    func ask(_ query: String, context: ResolvedContext, onEvent: (@Sendable (RLMEvent) -> Void)?) async throws -> Answered {
        if let session = await cache.checkOut(key: context.key) {
            metrics.cacheLookup(hit: true)
            let result = try await session.ask(query, onEvent: onEvent)
            await cache.checkIn(session, key: context.key, bytes: context.bytes)
            return Answered(result: result, loadSeconds: 0, cached: true)
        }
        metrics.cacheLookup(hit: false)
        let session = try await RLMSession(rlm: runConfiguration(), context: context.context)
        metrics.contextLoaded(seconds: session.loadSeconds)
        do {
            let result = try await session.ask(query, onEvent: onEvent)
            await cache.checkIn(session, key: context.key, bytes: context.bytes)
            return Answered(result: result, loadSeconds: session.loadSeconds, cached: false)
        } catch {
            await session.close()
            throw error
        }
    }

    /// The RLM with a log file of its own.
    func runConfiguration() -> RLM {
        var configured = rlm
        configured.logURL = logDirectory.map { directory in
            let stamp = Int(Date().timeIntervalSince1970)
            return directory.appendingPathComponent("serve-\(stamp)-\(UUID().uuidString.prefix(8).lowercased()).jsonl")
        }
        return configured
    }
}
