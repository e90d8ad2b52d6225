import Foundation

/// A JSON value of any shape, for contexts passed to `rlm_query` and for logs.
public enum JSONValue: Sendable, Codable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Text form used when a value must become part of a prompt.
    public var promptText: String {
        if case .string(let text) = self { return text }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? ""
    }
}

/// What the driver found when it loaded the context: the only thing the root model learns of it.
public struct ContextDescription: Sendable, Codable, Equatable {
    public struct Item: Sendable, Codable, Equatable {
        public var key: String
        public var chars: Int
    }
    public var type: String
    public var source: String?
    public var chars: Int?
    public var lines: Int?
    public var formatHint: String?
    public var items: Int?
    public var totalChars: Int?
    public var firstItems: [Item]?
    public var largestItems: [Item]?
    public var itemTypes: [String]?
    public var firstItemSizes: [Int]?
    public var largestItem: Int?
    public var firstItemKeys: [String]?
    public var replacedInvalidUTF8: Int?
    /// Notes added by the host while preparing the context (skipped files and the like).
    public var notes: [String]?

    enum CodingKeys: String, CodingKey {
        case type, source, chars, lines, items, notes
        case formatHint = "format_hint"
        case totalChars = "total_chars"
        case firstItems = "first_items"
        case largestItems = "largest_items"
        case itemTypes = "item_types"
        case firstItemSizes = "first_item_sizes"
        case largestItem = "largest_item"
        case firstItemKeys = "first_item_keys"
        case replacedInvalidUTF8 = "replaced_invalid_utf8"
    }

    /// Total characters, whatever the shape.
    public var size: Int { chars ?? totalChars ?? 0 }
}

/// Text a cell wrote to one stream: its start, its end, and how long it was in all.
struct CapturedText: Sendable, Codable, Equatable {
    var head: String
    var tail: String
    var total: Int
}

/// A message from the driver to the host.
struct DriverMessage: Decodable, Sendable {
    var type: String
    var id: Int?
    var token: String?
    var message: String?
    // ready
    var pid: Int?
    var python: String?
    var loadSeconds: Double?
    var description: ContextDescription?
    // llm_request (and the cell that made it), cancel
    var cell: Int?
    var ids: [Int]?
    var kind: String?
    var prompts: [String]?
    var contexts: [JSONValue]?
    var model: String?
    // tool_call
    var name: String?
    var arguments: JSONValue?
    // exec_result
    var stdout: CapturedText?
    var stderr: CapturedText?
    var error: Bool?
    var errorType: String?
    var interrupted: Bool?
    var final: String?
    var finalSource: String?
    var restored: [String]?
    var seconds: Double?
    var peakRSSKilobytes: Int?
    // part: a piece of a long message, base64, and whether it is the last
    var data: String?
    var last: Bool?

    enum CodingKeys: String, CodingKey {
        case data, last
        case type, id, token, message, pid, python, description, kind, prompts, contexts, model, cell, ids, name, arguments
        case errorType = "error_type"
        case stdout, stderr, error, interrupted, final, restored, seconds
        case loadSeconds = "load_seconds"
        case finalSource = "final_source"
        case peakRSSKilobytes = "peak_rss_kb"
    }
}

/// A message from the host to the driver.
enum HostMessage: Encodable, Sendable {
    case exec(id: Int, code: String)
    case llmResult(id: Int, results: [String])
    /// Fails a sub-call request the host could not read.
    case llmError(id: Int, message: String)
    /// The value a host tool returned.
    case toolResult(id: Int, result: JSONValue)
    /// A host tool failed (or could not be called): the code gets an exception with `message`.
    case toolError(id: Int, message: String)
    /// Interrupts the cell if it is still running (KeyboardInterrupt), the cell timeout's first step; the
    /// driver also fails and refuses that cell's sub-calls.
    case interrupt(cell: Int)
    /// Sets a variable in the REPL's namespace (used for `history`).
    case setVariable(name: String, value: JSONValue)
    /// Pickles the code's variables; answered by an `exec_result` whose stdout is the JSON report
    /// `{"done": [...], "skipped": {name: reason}, "data": base64 of the pickles}`.
    case saveVariables(id: Int)
    /// Restores variables from such `data`; answered the same way, without `data`.
    case loadVariables(id: Int, data: String)
    /// Asks a pristine driver to fork a copy that connects to its own socket; answered like a host command (an
    /// `exec_result` whose stderr says why, when the copy could not be set up).
    case fork(id: Int, ForkRequest)
    case shutdown

    enum CodingKeys: String, CodingKey { case type, id, code, results, name, value, message, cell, result, data }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .exec(let id, let code):
            try container.encode("exec", forKey: .type)
            try container.encode(id, forKey: .id)
            try container.encode(code, forKey: .code)
        case .llmResult(let id, let results):
            try container.encode("llm_result", forKey: .type)
            try container.encode(id, forKey: .id)
            try container.encode(results, forKey: .results)
        case .llmError(let id, let message):
            try container.encode("llm_error", forKey: .type)
            try container.encode(id, forKey: .id)
            try container.encode(message, forKey: .message)
        case .toolResult(let id, let result):
            try container.encode("tool_result", forKey: .type)
            try container.encode(id, forKey: .id)
            try container.encode(result, forKey: .result)
        case .toolError(let id, let message):
            try container.encode("tool_error", forKey: .type)
            try container.encode(id, forKey: .id)
            try container.encode(message, forKey: .message)
        case .interrupt(let cell):
            try container.encode("interrupt", forKey: .type)
            try container.encode(cell, forKey: .cell)
        case .setVariable(let name, let value):
            try container.encode("set_var", forKey: .type)
            try container.encode(name, forKey: .name)
            try container.encode(value, forKey: .value)
        case .saveVariables(let id):
            try container.encode("save_vars", forKey: .type)
            try container.encode(id, forKey: .id)
        case .loadVariables(let id, let data):
            try container.encode("load_vars", forKey: .type)
            try container.encode(id, forKey: .id)
            try container.encode(data, forKey: .data)
        case .fork(let id, let request):
            try container.encode("fork", forKey: .type)
            try container.encode(id, forKey: .id)
            try request.encode(to: encoder)
        case .shutdown:
            try container.encode("shutdown", forKey: .type)
        }
    }
}

/// A sub-call asked for by the model's code.
public struct SubCallRequest: Sendable {
    public enum Kind: String, Sendable { case llm, rlm }
    public var kind: Kind
    public var prompts: [String]
    /// Per-prompt contexts for `rlm_query`; nil when none were given.
    public var contexts: [JSONValue]?
    /// A model name asked for in `llm_query(..., model=...)`.
    public var model: String?
}
