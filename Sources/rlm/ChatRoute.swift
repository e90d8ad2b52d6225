import Foundation
import RLMKit

/// What answers a chat's questions, chosen once when the chat starts: an ``RLMSession`` (one REPL for the whole
/// chat), or on the direct route an ``RLMDirectSession`` (no REPL).
enum ChatBackend {
    case session(RLMSession)
    case direct(RLMDirectSession)

    /// Chooses the route once (`--resume` restores a REPL, so it keeps the RLM) and starts what answers.
    static func start(rlm: RLM, context: RLMContext, resuming: Bool) async throws -> (ChatBackend, RouteDecision) {
        let decision = resuming && rlm.route != .rlm
            ? RouteDecision(route: .rlm, reason: "--resume restores a REPL session, so the RLM answers")
            : try await rlm.chooseRoute(query: "", context: context)
        if decision.route == .direct {
            return (.direct(try await RLMDirectSession(rlm: rlm, context: context, decision: decision)), decision)
        }
        return (.session(try await RLMSession(rlm: rlm, context: context)), decision)
    }

    func ask(_ query: String, onEvent: @escaping @Sendable (RLMEvent) -> Void) async throws -> RLMResult {
        switch self {
        case .session(let session): try await session.ask(query, onEvent: onEvent)
        case .direct(let direct): try await direct.ask(query, onEvent: onEvent)
        }
    }

    /// True once a cancelled question killed the session's REPL; a direct chat has none to lose.
    var isClosed: Bool {
        get async {
            guard case .session(let session) = self else { return false }
            return await session.isClosed
        }
    }

    func close() async {
        if case .session(let session) = self { await session.close() }
    }
}
