import Foundation
import RLMKit

/// Host tools from a config file: programs the model's code may run through the host, off unless configured.
///
/// ```toml
/// [tools.search_docs]
/// description = "Searches the manual; returns a list of {path, line, text}."
/// command = ["/usr/local/bin/search-docs", "--json"]
/// parameters = '{"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}'
/// timeout_seconds = 30
/// env = ["DOCS_INDEX"]   # environment variables the program may see
/// ```
///
/// A command runs on the user's machine outside the sandbox, so a project's `rlm.toml` that declares one is
/// used only once the user trusts it (`rlm trust`), like one that sets an endpoint.
struct ToolSettings: Equatable {
    var description: String?
    var command: [String]?
    /// The JSON Schema of the arguments, as JSON text.
    var parameters: String?
    var timeoutSeconds: Double?
    var environment: [String] = []
    /// The line of the table's first setting, for messages.
    var line: Int
}

extension ConfigFile {
    /// The `tools.NAME` keys this file sets, which only a file the user chose or trusted may set.
    var toolKeysSet: [String] { tools.keys.sorted().map { "tools.\($0)" } }

    /// Reads one `tools.NAME.FIELD = value`.
    mutating func addToolSetting(name: String, field: String, value: TOMLSubset.Value, line: Int,
                                 fail: (String) -> CLIFailure) throws {
        var tool = tools[name] ?? ToolSettings(line: line)
        switch (field, value) {
        case ("description", .string(let text)):
            tool.description = text
        case ("command", .array(let items)):
            tool.command = try items.map { item in
                guard case .string(let word) = item else { throw fail("tools.\(name).command must be an array of strings, like [\"/usr/bin/prog\", \"--flag\"]") }
                return word
            }
        case ("parameters", .string(let text)):
            guard (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) != nil else {
                throw fail("tools.\(name).parameters must be a JSON Schema written as JSON text")
            }
            tool.parameters = text
        case ("timeout_seconds", .number(let raw)):
            guard let seconds = Double(raw), seconds > 0, seconds <= 86_400 else {
                throw fail("tools.\(name).timeout_seconds must be a number of seconds between 0 and 86400")
            }
            tool.timeoutSeconds = seconds
        case ("env", .array(let items)):
            tool.environment = try items.map { item in
                guard case .string(let variable) = item else { throw fail("tools.\(name).env must be an array of variable names") }
                return variable
            }
        case ("description", _), ("command", _), ("parameters", _), ("timeout_seconds", _), ("env", _):
            throw fail("tools.\(name).\(field) cannot be \(value.kindName)")
        default:
            throw fail("unknown tool setting '\(field)' (known: command, description, env, parameters, timeout_seconds)")
        }
        tools[name] = tool
    }

    /// Every tool needs a command and a description.
    func checkTools(path: String) throws {
        for (name, tool) in tools.sorted(by: { $0.key < $1.key }) {
            guard let command = tool.command, !command.isEmpty, !command[0].isEmpty else {
                throw CLIFailure.configuration("\(path):\(tool.line): tool \(name) has no command. Add command = [\"/path/to/program\", …] to [tools.\(name)].")
            }
            guard let description = tool.description, !description.isEmpty else {
                throw CLIFailure.configuration("\(path):\(tool.line): tool \(name) has no description. Add description = \"what it does and returns\" to [tools.\(name)]: the model reads it.")
            }
        }
    }

    /// The configured tools, ready for ``RLM``.
    func makeTools() throws -> [RLMTool] {
        try tools.sorted(by: { $0.key < $1.key }).map { name, settings in
            let parameters = try settings.parameters.map { try JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
            return RLMTool.command(name: name, description: settings.description ?? "", parameters: parameters,
                                   command: settings.command ?? [],
                                   timeout: .milliseconds(Int((settings.timeoutSeconds ?? 60) * 1_000)),
                                   passEnvironment: settings.environment)
        }
    }
}
