import Crypto
import Foundation
import Logging
import RLMKit

/// Answers one question: a new conversation in a REPL of its own (a fork of the cache's pristine REPL when the
/// same content was asked about before, else a new one), which then becomes the client's session; or the next
/// question of a conversation in the session the client named.
struct ContextRunner: Sendable {
    let rlm: RLM
    /// Where each run's trajectory log goes (one file per run); nil writes none.
    let logDirectory: URL?
    let cache: ContextCache
    let sessions: SessionStore
    let metrics: ServerMetrics

    /// Where a question runs.
    enum Target: Sendable {
        /// A new conversation over `context`. `reusable` when the client named the context (`context`,
        /// `context_paths`); a transcript of the conversation changes with every turn and gets no spare.
        case newConversation(ResolvedContext, reusable: Bool, owner: SHA256Digest?)
        /// The next question in the session `id`, checked out of the store for this request.
        case session(id: String, RLMSession)
    }

    struct Answered: Sendable {
        var result: RLMResult
        /// Seconds this request spent loading the context (or waiting for the cache's copy to finish loading).
        var loadSeconds: Double
        var cached: Bool
        /// The id that continues this conversation; nil when the server could not keep its REPL.
        var session: String?
        /// `stop` for an answer, `length` for a partial answer that a limit cut short.
        var finishReason: String { result.status == .answered ? "stop" : "length" }
        var summary: RunSummary { RunSummary(result, loadSeconds: loadSeconds, cached: cached, session: session) }
    }

    /// - Parameter schema: the answer's schema (from `response_format`); nil for a text answer.
    func ask(_ query: String, target: Target, schema: AnswerSchema? = nil, onEvent: (@Sendable (RLMEvent) -> Void)?) async throws -> Answered {
        switch target {
        case .session(let id, let session):
            do {
                let result = try await session.ask(query, schema: schema, onEvent: onEvent)
                await sessions.checkIn(id)
                return Answered(result: result, loadSeconds: 0, cached: true, session: id)
            } catch {
                await sessions.checkIn(id)
                throw error
            }
        case .newConversation(let context, let reusable, let owner):
            if let direct = try await answerDirectly(query, context: context, schema: schema, onEvent: onEvent) { return direct }
            let (session, loadSeconds, cached) = try await load(context, reusable: reusable)
            do {
                let result = try await session.ask(query, schema: schema, onEvent: onEvent)
                // A cancelled run hands back its partial answer, and its REPL is gone: nothing is kept for it.
                guard !Task.isCancelled else {
                    await session.close()
                    return Answered(result: result, loadSeconds: loadSeconds, cached: cached, session: nil)
                }
                if reusable && !cached { await cache.add(context, load: makePristine) }
                // A fork shares the context's pages with its pristine, which the cache counts once.
                let id = await sessions.keep(session, owner: owner, bytes: cached ? 0 : context.bytes)
                return Answered(result: result, loadSeconds: loadSeconds, cached: cached, session: id)
            } catch {
                await session.close()
                throw error
            }
        }
    }

    /// A REPL over `context` that no code has run in: a fork of the cache's pristine REPL when it has one, else
    /// a new one. A fork that cannot be made (or walled off, under `strict`) is not made: the context is loaded
    /// anew instead, and the fall-back is counted and logged.
    private func load(_ context: ResolvedContext, reusable: Bool) async throws -> (RLMSession, Double, cached: Bool) {
        let started = ContinuousClock.now
        if reusable, let loading = await cache.pristine(for: context.key) {
            metrics.cacheLookup(hit: true)
            do {
                let session = try await loading.value.makeSession(rlm: runConfiguration())
                return (session, (ContinuousClock.now - started).seconds, true)
            } catch {
                try Task.checkCancellation()
                // A pristine that failed to load, or was retired just now, is simply replaced; a fork that could
                // not be walled off is a downgrade refused, which the operator must hear about.
                if case .forkFailed = error as? REPLError {
                    metrics.forkFellBack()
                    Self.logger.warning("rlm serve: \(error)")
                }
                await cache.drop(key: context.key, loading)
            }
        } else {
            metrics.cacheLookup(hit: false)
        }
        let session = try await makeSession(context.context)
        metrics.contextLoaded(seconds: session.loadSeconds)
        return (session, session.loadSeconds, false)
    }

    private static let logger = Logger(label: "rlm.serve")

    /// A new REPL with `context` loaded, and a trajectory log of its own.
    @Sendable func makeSession(_ context: RLMContext) async throws -> RLMSession {
        try await RLMSession(rlm: runConfiguration(), context: context)
    }

    /// A pristine REPL with `context` loaded, for the cache to fork sessions from.
    @Sendable func makePristine(_ context: RLMContext) async throws -> PristineContext {
        try await PristineContext.load(rlm: rlm, context: context)
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
