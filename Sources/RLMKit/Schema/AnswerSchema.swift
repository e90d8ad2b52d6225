import Foundation

/// A JSON Schema for a run's answer, parsed and checked against the subset this validator supports.
///
/// Follows draft 2020-12 for these keywords: `type` (a name or a list; `integer` accepts `1.0`), `properties`,
/// `required`, `additionalProperties` (a boolean or a schema), `items` (a schema), `enum`, `const`, `minimum`,
/// `maximum`, `minLength`, `maxLength` (counted in Unicode code points), `minItems`, `maxItems`, `anyOf`, `oneOf`,
/// `allOf`, `$defs` and `$ref` to a schema within the document (`#/$defs/Name`, `#`). The annotations `title`,
/// `description`, `default`, `examples`, `$comment`, `$schema` and `$id` are accepted and ignored, which covers
/// the schemas Pydantic writes for plain models (not `format`, `pattern`, tuples or discriminated unions). Any other keyword is refused when the schema is parsed, by name, so nothing the
/// schema asks for is silently left unchecked.
///
/// ```swift
/// let schema = try AnswerSchema(json: Data(#"{"type":"object","required":["n"]}"#.utf8))
/// for violation in schema.validate(.object([:])) { print(violation) }   // $: missing required key "n"
/// ```
public struct AnswerSchema: Sendable {
    /// The schema as given.
    public let source: JSONValue
    let root: SchemaNode
    /// Every subschema by its JSON pointer in the document (`""` is the root), for `$ref`.
    let pointerTargets: [String: SchemaNode]

    /// Keywords that constrain the value.
    public static let supportedKeywords = [
        "type", "properties", "required", "additionalProperties", "items", "enum", "const", "minimum", "maximum",
        "minLength", "maxLength", "minItems", "maxItems", "anyOf", "oneOf", "allOf", "$ref", "$defs",
    ]
    /// Keywords accepted and ignored: they describe the value without constraining it.
    public static let ignoredAnnotations = ["title", "description", "default", "examples", "$comment", "$schema", "$id"]

    /// Parses a schema given as a JSON value.
    /// - Parameter source: a JSON Schema: an object, or `true` / `false`.
    /// - Throws: ``AnswerSchemaError`` naming the first keyword that is unsupported or malformed, and its path.
    public init(_ source: JSONValue) throws(AnswerSchemaError) {
        var parser = SchemaParser()
        let root = try parser.parse(source)
        self.source = source
        self.root = root
        self.pointerTargets = parser.targets
    }

    /// Parses a schema given as JSON text (a file's bytes, a `--schema '{…}'` argument).
    /// - Throws: ``AnswerSchemaError`` of kind ``AnswerSchemaError/Kind/notJSON`` when the bytes are not JSON,
    ///   otherwise as ``init(_:)``.
    public init(json: Data) throws(AnswerSchemaError) {
        let value: JSONValue
        do { value = try Self.decode(json) } catch { throw .notJSON(Self.reason(error)) }
        try self.init(value)
    }

    /// Checks a value and returns every way it does not fit, in a stable order; empty when it fits.
    public func validate(_ value: JSONValue) -> [SchemaViolation] {
        let validator = SchemaValidator(schema: self)
        return validator.check(root, value, path: "$", depth: 0)
    }

    /// Checks JSON text; text that is not JSON is one violation at `$`.
    public func validate(json: Data) -> [SchemaViolation] {
        do { return validate(try Self.decode(json)) } catch {
            return [SchemaViolation(path: "$", message: "not valid JSON: \(Self.reason(error))")]
        }
    }

    /// Whether the value fits.
    public func accepts(_ value: JSONValue) -> Bool { validate(value).isEmpty }

    static func decode(_ data: Data) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: data)
    }

    private static func reason(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            let underlying = (context.underlyingError as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return underlying ?? context.debugDescription
        }
        return "\(error)"
    }
}

/// A parsed subschema: `true`, `false`, or a set of rules that all apply.
indirect enum SchemaNode: Sendable {
    case always(Bool)
    case rules(SchemaRules)
}

/// The constraints of one schema object; a nil field is a keyword the schema does not use.
struct SchemaRules: Sendable {
    var types: [String]?
    var properties: [String: SchemaNode] = [:]
    var required: [String] = []
    var additionalProperties: SchemaNode?
    var items: SchemaNode?
    var enumValues: [JSONValue]?
    var constValue: JSONValue?
    var minimum: Double?
    var maximum: Double?
    var minLength: Int?
    var maxLength: Int?
    var minItems: Int?
    var maxItems: Int?
    var anyOf: [SchemaNode]?
    var oneOf: [SchemaNode]?
    var allOf: [SchemaNode]?
    /// The JSON pointer a `$ref` resolves to, and the reference as written.
    var ref: (pointer: String, written: String)?
}
