import Foundation

extension RLMNode {
    // MARK: History compaction

    /// Summarises older turns when the conversation nears the root model's window; the full history goes
    /// into the REPL variable `history` first.
    func compactIfNeeded(_ conversation: inout Conversation, repl: REPLSession, iteration: Int) async throws {
        let window = configuration.rootModelWindowTokens ?? ModelWindows.tokens(for: configuration.rootModel.name)
        let before = conversation.estimatedTokens
        guard before > window * 3 / 4, conversation.messages.count > 4 else { return }
        try await repl.setVariable("history", to: .array(conversation.fullHistory.map {
            .object(["role": .string($0.role.rawValue), "content": .string($0.content)])
        }))
        let middle = conversation.compactableMiddle
        let transcript = middle.map { "[\($0.role.rawValue)]\n\(OutputTruncation.clip($0.content, limit: 12_000))" }
            .joined(separator: "\n\n")
        let request = [ChatMessage.system(Prompts.compactionSystem), .user(Prompts.compactionRequest(query: query, transcript: transcript))]
        let summary = try await askRoot(request, iteration: iteration)
        conversation.compact(summary: Prompts.compactedHistory(summary: summary.text, turns: middle.count))
        let after = conversation.estimatedTokens
        await emit(.historyCompacted) {
            $0.iteration = iteration
            $0.text = summary.text
            $0.details = ["messages_summarised": .number(Double(middle.count)),
                          "estimated_tokens_before": .number(Double(before)),
                          "estimated_tokens_after": .number(Double(after)),
                          "window_tokens": .number(Double(window))]
        }
    }
}
