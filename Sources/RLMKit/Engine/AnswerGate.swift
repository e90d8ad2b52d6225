import Foundation

/// Decides, for a run with an answer schema, whether a submission is the answer: it must be JSON, fit the
/// schema, then pass the extra check (a `Decodable` type's decoding). It counts the refusals and keeps the last
/// one, so the run can stop after ``RLM/maxSchemaAttempts`` with it.
struct AnswerGate: Sendable {
    /// A check after the schema's: the problems with a value that fits it, empty when there are none.
    typealias Check = @Sendable (JSONValue) -> [SchemaViolation]

    /// A submission that did not fit.
    struct Refusal: Sendable {
        /// The submission as it came: JSON text, or the model's literal text.
        var text: String
        /// The submission as JSON, when it was JSON.
        var value: JSONValue?
        var violations: [SchemaViolation]
    }

    enum Verdict: Sendable {
        case accepted(JSONValue)
        case refused(Refusal)
    }

    /// The REPL helper that asks the host whether a value fits; it reaches the host as a tool call by this name.
    static let checkToolName = "check_answer"

    let schema: AnswerSchema
    let check: Check?
    let maxAttempts: Int
    private(set) var refusals = 0
    private(set) var lastRefusal: Refusal?

    init(schema: AnswerSchema, check: Check?, maxAttempts: Int) {
        self.schema = schema
        self.check = check
        self.maxAttempts = max(1, maxAttempts)
    }

    /// The gate of a run's configuration; nil when it has no answer schema.
    init?(_ configuration: RLM) {
        guard let schema = configuration.answerSchema else { return nil }
        self.init(schema: schema, check: configuration.answerCheck, maxAttempts: configuration.maxSchemaAttempts)
    }

    /// True once as many submissions were refused as the run allows.
    var isExhausted: Bool { refusals >= maxAttempts }

    /// Every problem with a value: the schema's, or when it fits, the extra check's.
    func problems(_ value: JSONValue) -> [SchemaViolation] {
        let violations = schema.validate(value)
        guard violations.isEmpty, let check else { return violations }
        return check(value)
    }

    /// Judges one submission. `literal` is text the model wrote in its reply rather than JSON from the REPL:
    /// it is read as JSON when it parses, else as a string.
    mutating func judge(_ text: String, literal: Bool) -> Verdict {
        guard let value = Self.parse(text) ?? (literal ? .string(text) : nil) else {
            let notJSON = SchemaViolation(path: "$", message: "the submission is not JSON; submit a dict or list with FINAL(value)")
            return refuse(Refusal(text: text, value: nil, violations: [notJSON]))
        }
        var violations = problems(value)
        if violations.isEmpty { return .accepted(value) }
        if case .string(let inner) = value, let parsed = Self.parse(inner), parsed.isContainer {
            violations.append(SchemaViolation(path: "$", message: "this is a str holding JSON text; submit the dict or list itself (FINAL(value), not FINAL(json.dumps(value)))"))
        }
        return refuse(Refusal(text: text, value: value, violations: violations))
    }

    private mutating func refuse(_ refusal: Refusal) -> Verdict {
        refusals += 1
        lastRefusal = refusal
        return .refused(refusal)
    }

    static func parse(_ text: String) -> JSONValue? {
        try? AnswerSchema.decode(Data(text.utf8))
    }
}

extension JSONValue {
    /// An object or an array.
    var isContainer: Bool {
        switch self {
        case .object, .array: true
        default: false
        }
    }
}

extension SchemaViolation: Codable {
    enum CodingKeys: String, CodingKey { case path, message }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(path: try container.decode(String.self, forKey: .path),
                  message: try container.decode(String.self, forKey: .message))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(path, forKey: .path)
        try container.encode(message, forKey: .message)
    }
}
