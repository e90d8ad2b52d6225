import Foundation

/// The host tools a REPL offers to the model's code, and where their calls go.
///
/// Each tool becomes a Python function of the same name in the REPL. A call travels to the host as a
/// `tool_call` message; the host's answer comes back as the function's return value, or as an exception.
struct REPLTools: Sendable {
    /// What the driver needs to define one function.
    struct Signature: Encodable, Sendable, Equatable {
        var name: String
        /// The docstring of the Python function.
        var doc: String
    }

    /// A call from the code: the tool's name and its JSON arguments.
    struct Call: Sendable {
        var name: String
        var arguments: JSONValue
    }

    typealias Handler = @Sendable (Call) async -> Result<JSONValue, ToolFailure>

    var signatures: [Signature]
    var handler: Handler

    /// No tools: the REPL defines none, and a stray call is refused.
    static let none = REPLTools(signatures: []) { call in
        .failure(ToolFailure(message: "no host tool named \(call.name) is configured"))
    }
}

/// Why a tool call failed, as the message of the Python exception the code gets.
struct ToolFailure: Error, Sendable {
    var message: String
}
