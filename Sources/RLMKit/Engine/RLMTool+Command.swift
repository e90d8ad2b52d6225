import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

extension RLMTool {
    /// A tool backed by a program: each call runs `command` (no shell) with the JSON arguments on its stdin.
    /// Its stdout is the result, parsed as JSON when it is JSON, else kept as text. A non-zero exit, a run past
    /// `timeout`, or more than 4 MiB of output fails the call with what the program wrote to stderr.
    ///
    /// The program gets a small environment (`PATH`, `HOME`, `LANG`, `TMPDIR`) plus the variables named in
    /// `passEnvironment`, so a model key in the host's environment never reaches it unasked.
    public static func command(name: String, description: String, parameters: JSONValue? = nil, command: [String],
                               timeout: Duration = .seconds(60), passEnvironment: [String] = []) -> RLMTool {
        RLMTool(name: name, description: description, parameters: parameters) { arguments in
            try await CommandToolRun(name: name, command: command, timeout: timeout,
                                     passEnvironment: passEnvironment).call(arguments)
        }
    }
}

/// One call of a command-backed tool.
struct CommandToolRun: Sendable {
    let name: String
    let command: [String]
    let timeout: Duration
    let passEnvironment: [String]

    static let outputLimit = 4 << 20

    func call(_ arguments: JSONValue) async throws -> JSONValue {
        guard !(command.first ?? "").isEmpty else {
            throw RLMToolError(message: "the tool \(name) has an empty command. Give it a program to run.")
        }
        let input = JSONValue.encodedText(arguments)
        let environment = environment()
        let timeout = timeout
        let outcome = try await withThrowingTaskGroup(of: Finished?.self) { group in
            group.addTask { try await Self.run(command, input: input, environment: environment) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        guard let outcome else {
            throw RLMToolError(message: "the command of tool \(name) ran past its \(Int(timeout.seconds)) s timeout and was stopped")
        }
        guard case .exited(0) = outcome.status else {
            let stderr = OutputTruncation.clip(outcome.stderr.trimmingCharacters(in: .whitespacesAndNewlines), limit: 2_000)
            throw RLMToolError(message: "the command of tool \(name) failed (\(outcome.status))" + (stderr.isEmpty ? "" : ": \(stderr)"))
        }
        let trimmed = outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        if let value = try? JSONDecoder().decode(JSONValue.self, from: Data(trimmed.utf8)) { return value }
        return .string(outcome.stdout)
    }

    /// How one run of the program ended.
    struct Finished: Sendable {
        var status: TerminationStatus
        var stdout: String
        var stderr: String
    }

    /// Runs the program in its own process group, killed with the group when the call is cancelled.
    private static func run(_ command: [String], input: String, environment: [Environment.Key: String]) async throws -> Finished {
        let program = command[0]
        var options = PlatformOptions()
        options.processGroupID = 0
        options.teardownSequence = [.send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .milliseconds(100))]
        let result = try await Subprocess.run(
            program.contains("/") ? .path(FilePath(program)) : .name(program),
            arguments: Arguments(Array(command.dropFirst())), environment: .custom(environment),
            platformOptions: options, input: .string(input),
            output: .string(limit: outputLimit), error: .string(limit: outputLimit))
        return Finished(status: result.terminationStatus, stdout: result.standardOutput, stderr: result.standardError)
    }

    private func environment() -> [Environment.Key: String] {
        let inherited = ProcessInfo.processInfo.environment
        var values = ["PATH": inherited["PATH"] ?? "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"]
        for key in ["HOME", "TMPDIR"] + passEnvironment { values[key] = inherited[key] ?? values[key] }
        var result: [Environment.Key: String] = [:]
        for (key, value) in values {
            if let key = Environment.Key(rawValue: key) { result[key] = value }
        }
        return result
    }
}

extension JSONValue {
    /// Compact JSON text of a value (any shape, top-level scalars included).
    static func encodedText(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? "null"
    }
}
