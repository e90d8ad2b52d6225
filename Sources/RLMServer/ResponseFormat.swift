import Foundation
import RLMKit

/// The request's `response_format`, read and checked before a run starts: plain text (the default), any JSON
/// object (`json_object`), or a JSON value that fits a schema (`json_schema`, strict or not).
///
/// Every field is understood or refused with a 400 that names it: an unknown `type`, an unknown field, a schema
/// keyword the validator does not support. Nothing in it is silently ignored.
struct ResponseFormat: Sendable {
    enum Kind: String, Sendable {
        case text
        case jsonObject = "json_object"
        case jsonSchema = "json_schema"
    }

    var kind: Kind
    /// The schema the answer is checked against; nil for text.
    var schema: AnswerSchema?
    /// `json_schema.name`.
    var name: String?
    /// `json_schema.strict`: a misfit after the tries is a 422 rather than the best JSON with its problems.
    /// `json_object` is always strict: its promise is a JSON object.
    var strict: Bool

    static let text = ResponseFormat(kind: .text, schema: nil, name: nil, strict: false)

    /// Reads `response_format`; nil or absent is text.
    init(_ value: JSONValue?) throws(APIError) {
        guard let value, value != .null else {
            self = .text
            return
        }
        guard case .object(let fields) = value else {
            throw .invalidRequest("response_format must be an object such as {\"type\": \"json_schema\", \"json_schema\": {…}}.", param: "response_format")
        }
        guard case .string(let type)? = fields["type"] else {
            throw .invalidRequest("response_format.type is missing or not a string; send text, json_object or json_schema.", param: "response_format.type")
        }
        guard let kind = Kind(rawValue: type) else {
            throw .invalidRequest("response_format.type \"\(type)\" is not supported; this server understands text, json_object and json_schema.",
                                  param: "response_format.type", code: "unsupported_response_format")
        }
        let allowed: Set<String> = kind == .jsonSchema ? ["type", "json_schema"] : ["type"]
        try Self.refuseUnknown(fields, allowed: allowed, in: "response_format")
        switch kind {
        case .text:
            self = .text
        case .jsonObject:
            self.init(kind: .jsonObject, schema: try! AnswerSchema(.object(["type": .string("object")])), name: nil, strict: true)
        case .jsonSchema:
            guard case .object(let options)? = fields["json_schema"] else {
                throw .invalidRequest("response_format.json_schema is missing or not an object; it holds name, schema and strict.", param: "response_format.json_schema")
            }
            try self.init(jsonSchema: options)
        }
    }

    private init(kind: Kind, schema: AnswerSchema?, name: String?, strict: Bool) {
        self.kind = kind
        self.schema = schema
        self.name = name
        self.strict = strict
    }

    /// `json_schema`: `name` (required), `schema` (required), `strict` (default false), `description` (shown to
    /// the model as the schema's own description).
    private init(jsonSchema options: [String: JSONValue]) throws(APIError) {
        let at = "response_format.json_schema"
        try Self.refuseUnknown(options, allowed: ["name", "schema", "strict", "description"], in: at)
        guard case .string(let name)? = options["name"], !name.isEmpty else {
            throw .invalidRequest("\(at).name is missing or not a string; name the answer's format (a-z, A-Z, 0-9, _ and -).", param: at + ".name")
        }
        var strict = false
        switch options["strict"] {
        case nil, .null?: break
        case .bool(let flag)?: strict = flag
        default: throw .invalidRequest("\(at).strict must be true or false.", param: at + ".strict")
        }
        guard var source = options["schema"], source != .null else {
            throw .invalidRequest("\(at).schema is missing; give the JSON Schema the answer must fit.", param: at + ".schema")
        }
        if case .string(let description)? = options["description"], case .object(var root) = source {
            if case .string(let own)? = root["description"], own != description {
                root["description"] = .string(description + "\n" + own)
            } else {
                root["description"] = .string(description)
            }
            source = .object(root)
        } else if let description = options["description"], description != .null {
            // A description the model would never see is refused rather than dropped.
            throw .invalidRequest(Self.isString(description) ? "\(at).description needs a schema that is an object, to be shown as its description."
                                  : "\(at).description must be a string.", param: at + ".description")
        }
        do {
            self.init(kind: .jsonSchema, schema: try AnswerSchema(source), name: name, strict: strict)
        } catch {
            throw .invalidRequest("\(at).schema cannot be used: \(error.message)", param: at + ".schema",
                                  code: error.kind == .unsupportedKeyword ? "unsupported_schema_keyword" : "invalid_schema")
        }
    }

    private static func isString(_ value: JSONValue) -> Bool {
        if case .string = value { return true }
        return false
    }

    private static func refuseUnknown(_ fields: [String: JSONValue], allowed: Set<String>, in place: String) throws(APIError) {
        if let unknown = fields.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw .invalidRequest("\(place).\(unknown) is not understood here; \(place) takes \(allowed.sorted().joined(separator: ", ")).",
                                  param: "\(place).\(unknown)")
        }
    }
}
