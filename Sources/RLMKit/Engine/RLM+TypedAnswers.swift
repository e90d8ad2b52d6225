import Foundation

extension RLM {
    // MARK: Typed answers

    /// Answers `query` about `context` with a JSON value that fits `schema`.
    ///
    /// The model sees the schema and submits a value built in code; a value that does not fit goes back to it
    /// with the problems by JSON path, up to ``maxSchemaAttempts`` times. The value is in
    /// ``RLMResult/answerJSON``; when the run stopped first, ``RLMResult/status`` is partial and, if the
    /// submissions never fitted, ``RLMResult/stopReason`` is "schema" with the last one kept.
    /// - Parameters:
    ///   - schema: the answer's JSON Schema; nil uses ``answerSchema``.
    public func complete(query: String, context: RLMContext, schema: AnswerSchema?,
                         onEvent: (@Sendable (RLMEvent) -> Void)? = nil) async throws -> RLMResult {
        var configuration = self
        if let schema { configuration.answerSchema = schema }
        return try await configuration.complete(query: query, context: context, onEvent: onEvent)
    }

    /// Answers `query` about `context` with a value of type `Answer`, decoded from JSON that fits `schema`.
    ///
    /// Swift cannot derive a JSON Schema from a type, so the schema is given with it and should describe the
    /// same shape. A submission is checked against the schema, then decoded; either kind of problem goes back
    /// to the model, by JSON path, as a refused submission.
    /// - Throws: ``RLMTypedAnswerError`` carrying the run's result when it ended without a value that fits and
    ///   decodes; otherwise what ``complete(query:context:onEvent:)`` throws.
    public func complete<Answer: Decodable & Sendable>(
        query: String, context: RLMContext, schema: AnswerSchema, as type: Answer.Type = Answer.self,
        decoder: @escaping @Sendable () -> JSONDecoder = { JSONDecoder() },
        onEvent: (@Sendable (RLMEvent) -> Void)? = nil
    ) async throws -> RLMTypedResult<Answer> {
        var configuration = self
        configuration.answerSchema = schema
        configuration.answerCheck = { value in AnswerDecoding.problems(decoding: Answer.self, from: value, decoder: decoder()) }
        let result = try await configuration.complete(query: query, context: context, onEvent: onEvent)
        guard result.status == .answered, let json = result.answerJSON else {
            throw RLMTypedAnswerError(result: result)
        }
        do {
            return RLMTypedResult(value: try AnswerDecoding.decode(Answer.self, from: json, decoder: decoder()), result: result)
        } catch {
            throw RLMTypedAnswerError(result: result)
        }
    }
}

/// A typed answer and the run that produced it.
public struct RLMTypedResult<Answer: Sendable>: Sendable {
    /// The answer, decoded.
    public var value: Answer
    /// The run: its JSON answer, usage, cost, trajectory.
    public var result: RLMResult
}

/// A run that ended without a value that fits the schema and decodes: a limit stopped it, or every submission
/// was refused (``RLMResult/stopReason`` "schema", with the last submission and its problems kept).
public struct RLMTypedAnswerError: Error, Sendable, CustomStringConvertible {
    /// The run as it ended.
    public var result: RLMResult

    public var description: String {
        var text = "the run ended without an answer that fits the schema (status \(result.status.rawValue)"
        if let reason = result.stopReason { text += ", stop_reason \(reason)" }
        text += ")"
        if let violations = result.schemaViolations, !violations.isEmpty {
            text += "; the last submission: " + violations.prefix(5).map(\.description).joined(separator: "; ")
        }
        if result.stopReason == StopReason.schema.rawValue {
            return text + ". Simplify the schema, describe the fields in the question, or raise maxSchemaAttempts."
        }
        return text + ". Raise the limit that stopped it."
    }
}

/// Decoding a JSON value into a `Decodable` type, with its errors as violations by JSON path.
enum AnswerDecoding {
    static func decode<Answer: Decodable>(_ type: Answer.Type, from value: JSONValue, decoder: JSONDecoder) throws -> Answer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return try decoder.decode(type, from: encoder.encode(value))
    }

    /// Why `value` does not decode as `Answer`; empty when it does.
    static func problems<Answer: Decodable>(decoding type: Answer.Type, from value: JSONValue, decoder: JSONDecoder) -> [SchemaViolation] {
        do {
            _ = try decode(type, from: value, decoder: decoder)
            return []
        } catch let error as DecodingError {
            return [violation(error)]
        } catch {
            return [SchemaViolation(path: "$", message: "does not decode as \(type): \(error)")]
        }
    }

    static func violation(_ error: DecodingError) -> SchemaViolation {
        switch error {
        case .keyNotFound(let key, let context):
            return SchemaViolation(path: path(context.codingPath), message: "missing required key \(JSONPath.quoted(key.stringValue))")
        case .typeMismatch(let type, let context):
            return SchemaViolation(path: path(context.codingPath), message: "cannot be read as \(type): \(context.debugDescription)")
        case .valueNotFound(let type, let context):
            return SchemaViolation(path: path(context.codingPath), message: "expected \(type), got null")
        case .dataCorrupted(let context):
            return SchemaViolation(path: path(context.codingPath), message: context.debugDescription)
        @unknown default:
            return SchemaViolation(path: "$", message: "\(error)")
        }
    }

    /// A coding path as a JSON path: `$.items[2].amount`.
    static func path(_ codingPath: [any CodingKey]) -> String {
        codingPath.reduce("$") { path, key in
            if let index = key.intValue, key.stringValue.hasPrefix("Index ") || key.stringValue == "\(index)" {
                return JSONPath.appending(index: index, to: path)
            }
            return JSONPath.appending(key.stringValue, to: path)
        }
    }
}
