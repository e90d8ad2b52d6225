import Foundation

/// What the root model is told on the direct route, where the whole input is in its prompt. Our own wording.
extension Prompts {
    static let directSystem = """
        You answer questions about an input that is given to you whole, between <context> and </context> in the \
        first user message (a folder's files each come as a <file path="…"> block). Answer from what the input \
        says. When it does not hold the answer, say so rather than guess. Name the files, lines or passages your \
        answer rests on when that helps the reader check it. Give the answer itself, without restating these \
        instructions.
        """

    /// The first user message: the input, then the question. The input comes first so that a later question
    /// in the same conversation repeats it as an unchanged prefix.
    static func directFirstTurn(context: String, query: String) -> String {
        "<context>\n\(context)\n</context>\n\nQuestion: \(query)"
    }

    /// The messages of a direct question: the input and the first question, the earlier answers, then `query`.
    static func directMessages(context: String, earlier: [(question: String, answer: String)], query: String) -> [ChatMessage] {
        guard let first = earlier.first else {
            return [.system(directSystem), .user(directFirstTurn(context: context, query: query))]
        }
        var messages: [ChatMessage] = [.system(directSystem), .user(directFirstTurn(context: context, query: first.question)),
                                       .assistant(first.answer)]
        for exchange in earlier.dropFirst() {
            messages.append(.user(exchange.question))
            messages.append(.assistant(exchange.answer))
        }
        messages.append(.user(query))
        return messages
    }

    /// Characters the direct prompt adds around the context and the question.
    static var directOverheadChars: Int { directSystem.count + 64 }
}
