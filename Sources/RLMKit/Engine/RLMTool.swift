import Foundation

/// A Swift function the model's code can call as a Python function of the same name: a database query, a
/// search index, a file from the app's store. It runs in the host, outside the sandbox, so it is the one door
/// through which the code reaches what the sandbox keeps out; each tool is listed in the system prompt.
///
/// In Python, keyword arguments arrive as a JSON object, a single positional argument as itself, several as an
/// array. What `perform` returns becomes the call's value (a `dict`, `list`, `str`, number, bool or `None`);
/// what it throws becomes a `HostToolError` exception carrying the error's description. Every call counts as
/// one sub-call in ``RLMBudget`` and is logged as `tool_call_started` / `tool_call_finished`.
public struct RLMTool: Sendable {
    /// The Python function's name: an identifier that is not one of the REPL's own names.
    public var name: String
    /// What the tool does and what it returns; it is the function's docstring and its line in the prompt.
    public var description: String
    /// A JSON Schema of the arguments, shown to the model with the description; nil when it takes none.
    public var parameters: JSONValue?
    /// Runs one call.
    public var perform: @Sendable (_ arguments: JSONValue) async throws -> JSONValue

    public init(name: String, description: String, parameters: JSONValue? = nil,
                perform: @escaping @Sendable (_ arguments: JSONValue) async throws -> JSONValue) {
        self.name = name
        self.description = description
        self.parameters = parameters
        self.perform = perform
    }

    /// The docstring of the Python function: the description and the argument schema.
    var docstring: String {
        guard let parameters else { return description }
        return description + "\n\nArguments (JSON Schema): " + parameters.promptText
    }

    /// Names the REPL defines itself; a tool may not take one of them.
    static let reservedNames: Set<String> = [
        "context", "llm_query", "llm_query_batched", "rlm_query", "rlm_query_batched", "FINAL", "FINAL_VAR",
        "answer", "SHOW_VARS", "rlm_history", "HostToolError", "answer_schema", "check_answer",
    ]

    /// Throws when a name is not a Python identifier, is taken by the REPL, or is used twice.
    static func validate(_ tools: [RLMTool]) throws {
        var seen: Set<String> = []
        for tool in tools {
            let isIdentifier = tool.name.wholeMatch(of: /[A-Za-z_][A-Za-z0-9_]*/) != nil
            guard isIdentifier, !pythonKeywords.contains(tool.name) else {
                throw RLMToolError(message: "the tool name \"\(tool.name)\" is not a Python identifier. Name it with letters, digits and underscores, not starting with a digit.")
            }
            guard !reservedNames.contains(tool.name) else {
                throw RLMToolError(message: "the tool name \(tool.name) is one of the REPL's own names. Choose another name.")
            }
            guard seen.insert(tool.name).inserted else {
                throw RLMToolError(message: "two tools are named \(tool.name). Give each tool its own name.")
            }
        }
    }

    private static let pythonKeywords: Set<String> = [
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def",
        "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
        "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
    ]
}

/// A tool list that cannot be offered to the model's code, with what to change.
public struct RLMToolError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
