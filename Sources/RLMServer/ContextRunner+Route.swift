import Foundation
import RLMKit

extension ContextRunner {
    /// A new conversation's answer on the direct route (`--route direct`, or `auto` with an input that fits
    /// in half the root model's window): one call, no REPL, and no session to keep. Nil when the RLM answers.
    func answerDirectly(_ query: String, context: ResolvedContext, schema: AnswerSchema?,
                        onEvent: (@Sendable (RLMEvent) -> Void)?) async throws -> Answered? {
        guard rlm.route != .rlm else { return nil }
        var configured = runConfiguration()
        if let schema { configured.answerSchema = schema }
        let decision = try await configured.chooseRoute(query: query, context: context.context)
        guard decision.route == .direct else { return nil }
        let result = try await configured.complete(query: query, context: context.context, route: decision, onEvent: onEvent)
        return Answered(result: result, loadSeconds: 0, cached: false, session: nil)
    }
}
