/// Why a JSON Schema could not be used as an answer schema: the keyword, where it is, and what to do instead.
///
/// A struct rather than an enum, so that new kinds of failure are not a breaking change. Compare ``kind`` with the
/// static members of ``Kind`` (`error.kind == .unsupportedKeyword`).
public struct AnswerSchemaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Code: String, Hashable, Sendable {
            case notJSON = "not JSON"
            case unsupportedKeyword = "unsupported keyword"
            case invalidValue = "invalid keyword value"
            case unsupportedReference = "unsupported reference"
            case unresolvedReference = "unresolved reference"
            case referenceCycle = "reference cycle"
        }
        private let code: Code
        private init(_ code: Code) { self.code = code }

        /// The schema text is not JSON.
        public static let notJSON = Kind(.notJSON)
        /// The schema uses a keyword outside the supported subset (``AnswerSchema/supportedKeywords``).
        public static let unsupportedKeyword = Kind(.unsupportedKeyword)
        /// A supported keyword has a value of the wrong shape (`"type": "int"`, `"required": "n"`…).
        public static let invalidValue = Kind(.invalidValue)
        /// A `$ref` points outside the schema (a URL, an anchor, or below an embedded `$id`).
        public static let unsupportedReference = Kind(.unsupportedReference)
        /// A `$ref` within the schema points at nothing, or at something that is not a schema.
        public static let unresolvedReference = Kind(.unresolvedReference)
        /// `$ref`s that lead back to themselves without ever checking a value.
        public static let referenceCycle = Kind(.referenceCycle)

        public var description: String { code.rawValue }
    }

    /// What kind of failure this is.
    public let kind: Kind
    /// Where in the schema, as a JSON path (`$.properties.when`); `$` is the whole schema.
    public let path: String
    /// The keyword at fault, when there is one (`format`, `$ref`…).
    public let keyword: String?
    /// The whole message: what is wrong, where, and what to do.
    public let message: String

    public var description: String { message }

    init(_ kind: Kind, path: String, keyword: String?, message: String) {
        self.kind = kind
        self.path = path
        self.keyword = keyword
        self.message = message
    }

    // MARK: Factories

    static func notJSON(_ detail: String) -> AnswerSchemaError {
        AnswerSchemaError(.notJSON, path: "$", keyword: nil, message: "the schema is not valid JSON: \(detail)")
    }

    static func unsupportedKeyword(_ keyword: String, at path: String) -> AnswerSchemaError {
        let supported = AnswerSchema.supportedKeywords.joined(separator: ", ")
        let ignored = AnswerSchema.ignoredAnnotations.joined(separator: ", ")
        return AnswerSchemaError(
            .unsupportedKeyword, path: path, keyword: keyword,
            message: "the schema uses the keyword \"\(keyword)\" at \(path), which is not supported. "
                + "Supported keywords: \(supported); ignored annotations: \(ignored). Remove it or rewrite it with these.")
    }

    static func invalid(_ keyword: String, at path: String, _ expectation: String) -> AnswerSchemaError {
        AnswerSchemaError(.invalidValue, path: path, keyword: keyword,
                          message: "the schema's \"\(keyword)\" at \(path) \(expectation).")
    }

    static func unsupportedReference(_ reference: String, at path: String, _ reason: String) -> AnswerSchemaError {
        AnswerSchemaError(.unsupportedReference, path: path, keyword: "$ref",
                          message: "the schema's \"$ref\": \"\(reference)\" at \(path) is not supported: \(reason). "
                              + "Put the referenced schema under \"$defs\" and use \"#/$defs/<name>\".")
    }

    static func unresolvedReference(_ reference: String, at path: String) -> AnswerSchemaError {
        AnswerSchemaError(.unresolvedReference, path: path, keyword: "$ref",
                          message: "the schema's \"$ref\": \"\(reference)\" at \(path) points at no schema in this document. "
                              + "Check the name under \"$defs\".")
    }

    static func referenceCycle(_ chain: [String], at path: String) -> AnswerSchemaError {
        AnswerSchemaError(.referenceCycle, path: path, keyword: "$ref",
                          message: "the schema's \"$ref\"s at \(path) loop without checking any value: "
                              + chain.joined(separator: " → ") + ". Break the loop.")
    }
}
