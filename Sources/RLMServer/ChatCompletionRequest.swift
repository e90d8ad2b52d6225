import Foundation
import RLMKit

/// The body of `POST /v1/chat/completions`: the OpenAI fields the server uses, plus two extensions that say
/// where the context comes from (`context`, `context_paths`).
struct ChatCompletionRequest: Decodable, Sendable {
    struct Message: Decodable, Sendable {
        var role: String
        var text: String

        enum CodingKeys: String, CodingKey { case role, content }

        /// `content` is a string, null, or a list of parts of which only `text` parts are understood.
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            role = try container.decode(String.self, forKey: .role)
            if let text = try? container.decodeIfPresent(String.self, forKey: .content) {
                self.text = text
                return
            }
            guard let parts = try? container.decode([JSONValue].self, forKey: .content) else {
                self.text = ""
                return
            }
            var texts: [String] = []
            for part in parts {
                guard case .object(let fields) = part, fields["type"] == .string("text"),
                      case .string(let text)? = fields["text"] else {
                    throw DecodingError.dataCorruptedError(
                        forKey: .content, in: container,
                        debugDescription: "only text parts are understood in message content; send images and files as text, or put a file under --files-root and name it in context_paths")
                }
                texts.append(text)
            }
            self.text = texts.joined(separator: "\n")
        }
    }

    struct StreamOptions: Decodable, Sendable {
        var includeUsage: Bool?
        enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
    }

    var model: String
    var messages: [Message]
    var stream: Bool?
    var streamOptions: StreamOptions?
    /// Extension: the context itself; a string becomes text, any other JSON value its parsed value.
    var context: JSONValue?
    /// Extension: files or directories under the server's `--files-root` that make up the context.
    var contextPaths: [String]?
    /// Extension: the id of a conversation this client started, to ask its next question in the same REPL.
    var session: String?
    /// The answer's format: text (the default), `json_object` or `json_schema`; read by ``ResponseFormat``.
    var responseFormat: JSONValue?

    enum CodingKeys: String, CodingKey {
        case model, messages, stream, context, session
        case streamOptions = "stream_options"
        case contextPaths = "context_paths"
        case responseFormat = "response_format"
    }

    /// The question: the text of the last user message.
    func query() throws(APIError) -> String {
        guard let last = messages.lastIndex(where: { $0.role == "user" }) else {
            throw .invalidRequest("messages holds no user message; the last user message is the question.", param: "messages")
        }
        let text = messages[last].text
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw .invalidRequest("the last user message is empty; it must hold the question.", param: "messages")
        }
        return text
    }

    /// Every message but the last user message, as a transcript: the context when no extension gives one.
    func conversationContext() -> String {
        guard let last = messages.lastIndex(where: { $0.role == "user" }) else { return "" }
        return messages.enumerated().filter { $0.offset != last }
            .map { "[\($0.element.role)]\n\($0.element.text)" }
            .joined(separator: "\n\n")
    }
}
