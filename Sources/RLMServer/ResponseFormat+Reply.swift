import Foundation
import RLMKit

extension ResponseFormat {
    /// What a finished run becomes in the reply: the message content, its `finish_reason`, and what the `rlm`
    /// extension says of the format.
    struct Reply: Sendable {
        var content: String
        var finishReason: String
        var format: Summary?
    }

    /// The `rlm.response_format` extension: which format applied and whether the answer fits it.
    struct Summary: Encodable, Sendable {
        var type: String
        var name: String?
        var strict: Bool
        /// The answer fits the schema.
        var fits: Bool
        /// Submissions the schema refused before the answer (or before the run stopped).
        var refusedSubmissions: Int
        /// Why the answer given does not fit; absent when it fits.
        var violations: [SchemaViolation]?

        enum CodingKeys: String, CodingKey {
            case type, name, strict, fits, violations
            case refusedSubmissions = "refused_submissions"
        }
    }

    /// The reply to `answered`, or a 422 when the answer cannot be given in this format.
    ///
    /// - An answer that fits: its JSON text, `stop`.
    /// - Every submission refused (`stop_reason` schema): a 422 carrying the last submission and its problems
    ///   when the format is strict (`strict: true`, `json_object`) or the last submission was not JSON at all;
    ///   otherwise the last submission's JSON, `stop`, with the problems in `rlm.response_format.violations`.
    /// - A limit stopped the run first: the best partial answer, `length`, as for text.
    func reply(to answered: ContextRunner.Answered) throws(APIError) -> Reply {
        let result = answered.result
        guard kind != .text else {
            return Reply(content: result.answer, finishReason: answered.finishReason, format: nil)
        }
        let fits = result.status == .answered && result.answerJSON != nil
        let refused = result.trajectory.filter { $0.event == .answerRefused }.count
        var summary = Summary(type: kind.rawValue, name: name, strict: strict, fits: fits,
                              refusedSubmissions: refused, violations: fits ? nil : result.schemaViolations)
        if fits {
            return Reply(content: result.answer, finishReason: "stop", format: summary)
        }
        guard result.stopReason == StopReason.schema.rawValue else {
            summary.violations = summary.violations ?? []
            return Reply(content: result.answer, finishReason: answered.finishReason, format: summary)
        }
        guard !strict, let value = result.answerJSON else {
            throw APIError.answerDoesNotFit(self, answered: answered, summary: summary)
        }
        return Reply(content: Self.jsonText(value, written: result.answer), finishReason: "stop", format: summary)
    }

    /// The submission's text as the model's code wrote it when it is that value, else the value re-encoded.
    static func jsonText(_ value: JSONValue, written: String) -> String {
        if let parsed = try? JSONDecoder().decode(JSONValue.self, from: Data(written.utf8)), parsed == value { return written }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? value.promptText
    }
}

extension APIError {
    /// 422: every submission was refused by a strict format; the body carries the last one and why.
    static func answerDoesNotFit(_ format: ResponseFormat, answered: ContextRunner.Answered,
                                 summary: ResponseFormat.Summary) -> APIError {
        let result = answered.result
        let violations = result.schemaViolations ?? []
        let shown = violations.prefix(5).map(\.description).joined(separator: "; ")
        let what = format.kind == .jsonObject ? "a JSON object (response_format json_object)"
            : "the response_format schema \"\(format.name ?? "")\""
        let fix = format.strict && format.kind == .jsonSchema
            ? "Loosen the schema, describe its fields in the question, or send strict: false to get the best JSON with its problems listed."
            : "Loosen the schema or describe the answer's shape in the question."
        var error = APIError(
            status: .unprocessableContent,
            message: "the model's answer does not fit \(what) after \(summary.refusedSubmissions) refused submission(s): \(shown). \(fix)",
            type: "invalid_response_error", code: "answer_does_not_fit", param: "response_format")
        var details: [String: JSONValue] = [
            "violations": .array(violations.map { .object(["path": .string($0.path), "message": .string($0.message)]) }),
        ]
        if let value = result.answerJSON {
            details["last_submission"] = value
        } else {
            details["last_submission_text"] = .string(result.answer)
        }
        details["rlm"] = Self.jsonValue(RunSummary(answered, format: summary))
        error.details = details
        return error
    }

    static func jsonValue(_ value: some Encodable) -> JSONValue {
        (try? JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))) ?? .null
    }
}

extension RunSummary {
    /// The summary of `answered`, saying which response format applied.
    init(_ answered: ContextRunner.Answered, format: ResponseFormat.Summary?) {
        self = answered.summary
        responseFormat = format
    }
}
