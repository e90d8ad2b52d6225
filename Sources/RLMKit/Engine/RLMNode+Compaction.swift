import Crypto
import Foundation

extension RLMNode {
    // MARK: History compaction

    /// Summarises older turns when the conversation nears the root model's window (or at once with `force`);
    /// the full history goes into the REPL variable `rlm_history` first, so nothing is lost. Returns false when
    /// there was nothing left to summarise.
    ///
    /// Every other turn only appends to the conversation, so each root request begins with the previous one and
    /// the provider's prompt cache serves that prefix; this is the one rewrite, and its event says so
    /// (`prefix_broken`).
    @discardableResult
    func compact(_ conversation: inout Conversation, repl: REPLSession, iteration: Int, force: Bool) async throws -> Bool {
        let window = tree.windows.root.tokens
        let before = conversation.estimatedTokens
        guard force || before > window * 3 / 4, conversation.messages.count > 4 else { return false }
        try await repl.setVariable(Conversation.historyVariable, to: .array(conversation.fullHistory.map {
            .object(["role": .string($0.role.rawValue), "content": .string($0.content)])
        }))
        let middle = conversation.compactableMiddle
        // The transcript to condense must itself fit the window, with room for the summary.
        let budgetChars = max(4_000, window * 2)
        let perMessage = max(500, min(12_000, budgetChars / max(1, middle.count)))
        let transcript = middle.map { "[\($0.role.rawValue)]\n\(OutputTruncation.clip($0.content, limit: perMessage))" }
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
                          "window_tokens": .number(Double(window)),
                          "forced": .bool(force),
                          // The only rewrite of the conversation: the next turn starts a new cached prefix after
                          // the system prompt, so it pays the whole prompt again once.
                          "prefix_broken": .bool(true),
                          "prefix_kept_messages": .number(1)]
        }
        return true
    }

    /// The name of the cached prefix a conversation builds (OpenAI's `prompt_cache_key`): a digest of its opening
    /// system prompt and question, the same on every turn of one trajectory, and free of the question's text.
    static func promptCacheKey(for messages: [ChatMessage]) -> String {
        let opening = messages.prefix(2).map { $0.role.rawValue + "\u{1}" + $0.content }.joined(separator: "\u{2}")
        return "rlm-" + SHA256.hash(data: Data(opening.utf8)).prefix(12).map { String(format: "%02x", $0) }.joined()
    }

    /// Asks the root model; when the server says the conversation does not fit its context window, summarises
    /// older turns and asks again instead of ending the run.
    func askRootCompactingOnOverflow(_ conversation: inout Conversation, repl: REPLSession, iteration: Int) async throws -> ModelResponse {
        var attempts = 0
        while true {
            do {
                return try await askRoot(conversation.messages, iteration: iteration,
                                         promptCacheKey: Self.promptCacheKey(for: conversation.messages))
            } catch let error as ModelError where error.isContextOverflow && attempts < 2 {
                attempts += 1
                let compacted = try await compact(&conversation, repl: repl, iteration: iteration, force: true)
                if !compacted && !conversation.shortenLastMessage() { throw error }
            }
        }
    }
}
