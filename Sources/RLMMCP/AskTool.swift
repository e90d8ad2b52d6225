import Foundation
import MCP
import RLMKit

/// The `rlm_ask` tool: its definition as listed to clients, and its arguments read from a call.
public enum AskTool {
    public static let name = "rlm_ask"

    /// Where the input of one call comes from.
    public enum Input: Sendable, Equatable {
        /// Files, directories or globs, relative to the server's working directory.
        case paths([String])
        /// The text itself.
        case text(String)
    }

    /// The arguments of one call.
    public struct Arguments: Sendable, Equatable {
        public var query: String
        public var input: Input
        /// The JSON Schema the answer must fit (checked by the engine, which sends misfits back to the model);
        /// nil for a text answer.
        public var schema: JSONValue?

        public init(query: String, input: Input, schema: JSONValue? = nil) {
            self.query = query
            self.input = input
            self.schema = schema
        }

        /// The parsed schema; the arguments were only made with one that parses.
        public func answerSchema() throws -> AnswerSchema? {
            try schema.map { try AnswerSchema($0) }
        }
    }

    /// The tool as `tools/list` shows it.
    public static var definition: Tool {
        Tool(
            name: name,
            title: "Ask a Recursive Language Model",
            description: """
                Answer a question about an input far larger than your context window: whole repositories, long \
                logs, many files. The input is never put into a model's window: it becomes a variable in a sandboxed \
                Python REPL, and a model answers by writing code that searches it and asks sub-models about \
                pieces of it. Give `query` and either `paths` (files, directories or globs relative to the \
                server's working directory) or `text`. With `schema` (a JSON Schema), the answer is a JSON value \
                that fits it, built and checked in code, in the result's `answer`. The result holds the answer, the \
                tokens and cost spent, and the limits that applied. Runs take seconds to minutes; progress is \
                reported while they run.
                """,
            inputSchema: .object([
                "type": "object",
                "properties": .object([
                    "query": .object([
                        "type": "string",
                        "description": "The question to answer about the input.",
                    ]),
                    "paths": .object([
                        "type": "array",
                        "items": .object(["type": "string"]),
                        "minItems": 1,
                        "description": .string("""
                            Files, directories (read as {relative path: text}) or globs such as "logs/*.log", \
                            relative to the server's working directory. Nothing outside it (or another root the \
                            server allows) is read.
                            """),
                    ]),
                    "text": .object([
                        "type": "string",
                        "description": "The input itself, when it is not in files.",
                    ]),
                    "schema": .object([
                        "type": "object",
                        "description": .string("""
                            A JSON Schema the answer must fit; the answer then comes back as that JSON value in \
                            `answer`. Supported: \(AnswerSchema.supportedKeywords.joined(separator: ", ")); the \
                            annotations \(AnswerSchema.ignoredAnnotations.joined(separator: ", ")) are ignored.
                            """),
                    ]),
                ]),
                "required": .array(["query"]),
                "additionalProperties": false,
            ]),
            annotations: .init(title: "Ask a Recursive Language Model", readOnlyHint: true, destructiveHint: false,
                               idempotentHint: false, openWorldHint: true),
            outputSchema: outputSchema
        )
    }

    /// Reads the arguments of a call; throws a ``ToolFailure`` that says which argument is wrong and how.
    public static func arguments(from values: [String: Value]?) throws -> Arguments {
        let values = values ?? [:]
        let known: Set<String> = ["query", "paths", "text", "schema"]
        if let unknown = values.keys.sorted().first(where: { !known.contains($0) }) {
            throw ToolFailure("unknown argument `\(unknown)`.", fix: "rlm_ask takes `query`, either `paths` or `text`, and optionally `schema`.")
        }
        let schema = try answerSchema(values["schema"].flatMap { $0.isNull ? Value?.none : $0 })
        guard let query = values["query"]?.stringValue,
              !query.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ToolFailure("`query` is missing or empty.", fix: "Pass the question as the string `query`.")
        }
        // `Value` takes a nil literal itself (as JSON null), so say `.none` for "absent".
        let paths = values["paths"].flatMap { $0.isNull ? Value?.none : $0 }
        let text = values["text"].flatMap { $0.isNull ? Value?.none : $0 }
        switch (paths, text) {
        case (nil, nil):
            throw ToolFailure("there is no input.", fix: "Pass `paths` (files, directories or globs) or `text`.")
        case (_?, _?):
            throw ToolFailure("both `paths` and `text` were given.", fix: "Pass one of them.")
        case (let paths?, nil):
            let list: [String]
            if let single = paths.stringValue {
                list = [single]
            } else if let array = paths.arrayValue, array.allSatisfy({ $0.stringValue != nil }) {
                list = array.compactMap(\.stringValue)
            } else {
                throw ToolFailure("`paths` must be an array of strings.", fix: #"Pass for example ["src", "logs/*.log"]."#)
            }
            guard !list.isEmpty else {
                throw ToolFailure("`paths` is empty.", fix: "Name at least one file, directory or glob, or pass `text`.")
            }
            return Arguments(query: query, input: .paths(list), schema: schema)
        case (nil, let text?):
            guard let string = text.stringValue else {
                throw ToolFailure("`text` must be a string.", fix: "Pass the input as one string.")
            }
            return Arguments(query: query, input: .text(string), schema: schema)
        }
    }

    /// Reads `schema`: a JSON object the validator accepts, or a failure naming the keyword it does not.
    static func answerSchema(_ value: Value?) throws -> JSONValue? {
        guard let value else { return nil }
        guard value.objectValue != nil, let json = try? JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value)) else {
            throw ToolFailure("`schema` must be a JSON Schema object.", fix: #"Pass for example {"type": "object", "properties": {"n": {"type": "integer"}}}."#)
        }
        do {
            _ = try AnswerSchema(json)
        } catch {
            throw ToolFailure("`schema` cannot be used: \(error.message)", fix: "")
        }
        return json
    }

    /// What `structuredContent` holds. `answer` may be any JSON (text, or the value that fits the call's own
    /// `schema`, which the engine checks), so a client validating against this never rejects a typed answer.
    static var outputSchema: Value {
        .object([
            "type": "object",
            "properties": .object([
                "status": .object(["type": "string", "enum": .array(["answered", "partial", "failed"])]),
                "answer": .object(["description": "The answer: text, or with `schema` the JSON value that fits it (any JSON)."]),
                "error": .object(["type": .array(["string", "null"])]),
                "stop_reason": .object(["type": .array(["string", "null"])]),
                "schema_violations": .object([
                    "type": "array",
                    "description": "Why the last submission did not fit `schema`, when the run stopped on it.",
                    "items": .object(["type": "object", "properties": .object([
                        "path": .object(["type": "string"]), "message": .object(["type": "string"])])]),
                ]),
                "iterations": .object(["type": "integer"]),
                "route": .object(["type": .array(["string", "null"]), "description": "How the answer was found: `rlm` (the REPL) or `direct` (one call with the whole input in the prompt)."]),
                "sub_calls": .object(["type": "integer"]),
                "cost_usd": .object(["type": .array(["number", "null"])]),
                "wall_seconds": .object(["type": "number"]),
                "notes": .object(["type": "array", "items": .object(["type": "string"])]),
            ]),
            "required": .array(["status", "answer", "error"]),
        ])
    }
}
