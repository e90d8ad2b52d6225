import Foundation

/// The root conversation, with the full history kept aside when older turns are summarised.
struct Conversation {
    private(set) var messages: [ChatMessage]
    private(set) var fullHistory: [ChatMessage]

    init(system: String, firstTurn: String) {
        messages = [.system(system), .user(firstTurn)]
        fullHistory = messages
    }

    /// A conversation saved earlier, as it was.
    init(messages: [ChatMessage], fullHistory: [ChatMessage]) {
        self.messages = messages
        self.fullHistory = fullHistory
    }

    /// A reply longer than this is kept cut in the conversation (its full text is in the log): megabytes of
    /// prose from a runaway model would otherwise fill the window on every later turn.
    static let maxKeptReplyChars = 40_000

    mutating func append(_ message: ChatMessage) {
        var kept = message
        if message.role == .assistant && message.content.count > Self.maxKeptReplyChars {
            kept.content = OutputTruncation.clip(message.content, limit: Self.maxKeptReplyChars)
        }
        messages.append(kept)
        fullHistory.append(kept)
    }

    /// The REPL variable that receives the full history when older turns are summarised (a reserved name, so
    /// the model's own variables, `history` included, are never overwritten).
    static let historyVariable = "rlm_history"

    /// Cuts the newest user message to half its length (for a window too small even after summarising);
    /// false when it is already short.
    mutating func shortenLastMessage() -> Bool {
        guard let last = messages.indices.last, messages[last].role == .user, messages[last].content.count > 2_000 else { return false }
        messages[last].content = OutputTruncation.clip(messages[last].content, limit: messages[last].content.count / 2)
        return true
    }

    /// About four characters per token.
    var estimatedTokens: Int { messages.reduce(0) { $0 + $1.content.count } / 4 }

    /// Everything between the question and the last exchange.
    var compactableMiddle: ArraySlice<ChatMessage> { messages[2..<max(2, messages.count - 2)] }

    /// Replaces the middle by a summary folded into the first user message, keeping user/assistant alternation.
    mutating func compact(summary: String) {
        guard messages.count > 4 else { return }
        let tail = messages.suffix(2)
        messages = [messages[0], .user(messages[1].content + "\n\n" + summary)] + tail
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
