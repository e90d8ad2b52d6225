import Foundation
import Synchronization

/// One question of a session: its conversation picks up where the last question left it, condensed, and its
/// top-level RLM is the one the session's REPL reports to while it runs.
final class SessionQuestion: Sendable {
    let host: SessionHost
    let history: Conversation?
    let earlier: [(question: String, answer: String)]
    let isFirst: Bool
    private let kept = Mutex<Conversation?>(nil)

    init(host: SessionHost, history: Conversation?, earlier: [(question: String, answer: String)], isFirst: Bool) {
        self.host = host
        self.history = history
        self.earlier = earlier
        self.isFirst = isFirst
    }

    /// The conversation as the question left it, for the next one.
    var conversation: Conversation? { kept.withLock { $0 } }

    /// Runs `root` in the session's REPL. A deadline (the body's cancellation) interrupts a running cell; the
    /// REPL itself is killed only when the whole question is cancelled.
    func answer(_ root: RLMNode, environment: RunEnvironment) async throws -> RLMNode.Outcome {
        let repl = host.repl
        let description = host.description
        host.router.install(root)
        defer { host.router.install(nil) }
        await root.announceContext(description, loadSeconds: isFirst ? host.driverLoadSeconds : 0, reused: !isFirst)
        var conversation = try await opening(root)
        defer { kept.withLock { $0 = conversation } }
        return try await withTaskCancellationHandler {
            try await root.answer(in: repl, description: description, conversation: &conversation)
        } onCancel: {
            Task { await repl.interruptRunningCell() }
        }
    }

    /// The first question's fresh conversation, or the last one's, condensed, with the new question added.
    private func opening(_ root: RLMNode) async throws -> Conversation {
        guard var conversation = history else { return root.makeConversation(description: host.description) }
        if conversation.messages.last?.role == .user {
            conversation.append(.assistant("(the previous question stopped here)"))
        }
        try await host.repl.setVariable("answer", to: .object(["content": .string(""), "ready": .bool(false)]))
        try await root.compact(&conversation, repl: host.repl, iteration: 0, force: true)
        let systemHasSchema = conversation.messages.first?.content.contains(Prompts.answerSchemaHeading) ?? false
        conversation.append(.user(Prompts.followUpTurn(query: root.query, earlier: earlier,
                                                       maxIterations: root.configuration.limits.maxIterations)
            + Prompts.followUpSchemaNote(root.configuration.answerSchema, maxAttempts: root.configuration.maxSchemaAttempts,
                                         systemHasSchema: systemHasSchema)))
        return conversation
    }
}
