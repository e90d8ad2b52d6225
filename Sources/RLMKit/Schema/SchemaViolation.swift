import Foundation

/// One way a value does not fit an ``AnswerSchema``: where, as a JSON path into the value, and what is wrong.
///
/// The messages are short and exact because they go back to a model as the reason its answer was refused:
/// `$.items[2]: missing required key "n"`, `$.items[0].n: expected integer, got string "12"`.
public struct SchemaViolation: Sendable, Equatable, CustomStringConvertible {
    /// Where in the value, as a JSON path: `$` is the whole value, then `.key`, `["odd key"]` and `[index]`.
    public let path: String
    /// What is wrong there, in plain words.
    public let message: String
    /// For a type mismatch, the types that were expected; lets `anyOf` merge "expected integer or null".
    let expectedTypes: [String]?

    /// A violation found by other means than the schema (a `Decodable` type refusing the value, say), so that it
    /// goes back to the model in the same form.
    public init(path: String, message: String) {
        self.init(path: path, message: message, expectedTypes: nil)
    }

    init(path: String, message: String, expectedTypes: [String]?) {
        self.path = path
        self.message = message
        self.expectedTypes = expectedTypes
    }

    /// `path: message`, the line given to a model.
    public var description: String { "\(path): \(message)" }
}

/// JSON paths and short value descriptions for violations and schema errors.
enum JSONPath {
    /// The path of `key` inside the object at `path`: `.key` when it reads as a name, `["key"]` otherwise.
    static func appending(_ key: String, to path: String) -> String {
        if isName(key) { return path + "." + key }
        return path + "[" + quoted(key) + "]"
    }

    static func appending(index: Int, to path: String) -> String { path + "[\(index)]" }

    private static func isName(_ key: String) -> Bool {
        guard let first = key.unicodeScalars.first, first == "_" || first == "$" || first.properties.isAlphabetic && first.isASCII
        else { return false }
        return key.unicodeScalars.allSatisfy { $0.isASCII && ($0 == "_" || $0 == "$" || $0.properties.isAlphabetic || ("0"..."9").contains($0)) }
    }

    /// A string as a JSON literal, cut to `limit` characters.
    static func quoted(_ text: String, limit: Int = 60) -> String {
        let cut = text.count > limit ? String(text.prefix(limit)) + "…" : text
        return literal(.string(cut))
    }

    /// A value as compact JSON with sorted keys, cut to `limit` characters.
    static func literal(_ value: JSONValue, limit: Int = 80) -> String {
        if case .number(let number) = value { return format(number) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let text = (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? "?"
        return text.count > limit ? String(text.prefix(limit)) + "…" : text
    }

    /// `12` rather than `12.0` for whole numbers.
    static func format(_ number: Double) -> String {
        if number.isFinite, number == number.rounded(), abs(number) < 1e15 { return String(Int64(number)) }
        return "\(number)"
    }

    /// What a value is, with enough of it to recognise: `string "12"`, `number 1.5`, `array of 3 items`.
    static func describe(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let flag): "boolean \(flag)"
        case .number(let number): "number \(format(number))"
        case .string(let text): "string \(quoted(text, limit: 40))"
        case .array(let items): "array of \(items.count) item\(items.count == 1 ? "" : "s")"
        case .object(let fields): "object with \(fields.count) key\(fields.count == 1 ? "" : "s")"
        }
    }
}
