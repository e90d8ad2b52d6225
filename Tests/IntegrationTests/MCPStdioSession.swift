import Foundation
import Synchronization

/// The real `rlm mcp` process, spoken to in raw JSON-RPC lines on its stdin and stdout, for what the Python
/// client cannot show from outside: cancelling a call mid-run, closing stdin, what exactly reaches stdout.
final class MCPStdioSession: Sendable {
    private let process: Process
    private let input: FileHandle
    private let stderrFile: URL
    private let output = OutputReader()

    /// Starts `command` (the `rlm` binary, or a prefix that runs it as another user) with `arguments`.
    init(command: [String], arguments: [String], environment: [String: String], workingDirectory: String) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst()) + arguments
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory)
        let stdin = Pipe()
        let stdout = Pipe()
        stderrFile = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-mcp-stderr-\(UUID().uuidString.prefix(8)).txt")
        _ = FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: stderrFile)
        input = stdin.fileHandleForWriting
        let output = self.output
        stdout.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            if chunk.isEmpty { handle.readabilityHandler = nil }
            output.take(chunk)
        }
        process.terminationHandler = { finished in output.exited(finished.terminationStatus) }
        try process.run()
    }

    deinit {
        if process.isRunning { process.terminate() }
        try? FileManager.default.removeItem(at: stderrFile)
    }

    var processIdentifier: Int32 { process.processIdentifier }
    var stderr: String { (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "" }
    var messages: [[String: Any]] { output.messages }
    /// Lines on stdout that were not JSON objects: stdout must carry only the protocol.
    var stray: [String] { output.stray }
    var exitCode: Int32? { output.exitCode }

    func send(_ message: [String: Any]) throws {
        var line = try JSONSerialization.data(withJSONObject: message)
        line.append(0x0A)
        try input.write(contentsOf: line)
    }

    func closeInput() throws { try input.close() }

    /// Sends `initialize` and `notifications/initialized`, and waits for the answer.
    func initialize() async throws {
        try send(["jsonrpc": "2.0", "id": 0, "method": "initialize", "params": [
            "protocolVersion": "2025-06-18", "capabilities": [String: Any](),
            "clientInfo": ["name": "swift-test", "version": "1"],
        ]])
        _ = try await response(to: 0)
        try send(["jsonrpc": "2.0", "method": "notifications/initialized"])
    }

    /// Calls `rlm_ask` with `arguments` as request `id`, asking for progress with token "p\(id)".
    func callAsk(id: Int, arguments: [String: Any]) throws {
        try send(["jsonrpc": "2.0", "id": id, "method": "tools/call", "params": [
            "name": "rlm_ask", "arguments": arguments, "_meta": ["progressToken": "p\(id)"],
        ]])
    }

    /// The response to request `id`, once it came (within `seconds`).
    func response(to id: Int, seconds: Int = 120) async throws -> [String: Any] {
        try await waitFor(seconds: seconds, "a response to request \(id)") {
            $0.messages.first { ($0["id"] as? Int) == id }
        }
    }

    /// The progress notifications for request `id` so far.
    func progress(of id: Int) -> [[String: Any]] {
        messages.filter {
            ($0["method"] as? String) == "notifications/progress"
                && (($0["params"] as? [String: Any])?["progressToken"] as? String) == "p\(id)"
        }.compactMap { $0["params"] as? [String: Any] }
    }

    /// Checks `found` every 100 ms until it gives a value, for at most `seconds`.
    func waitFor<Value>(seconds: Int = 120, _ what: String, _ found: (MCPStdioSession) -> Value?) async throws -> Value {
        for _ in 0..<(seconds * 10) {
            if let value = found(self) { return value }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw WaitFailure(description: "no \(what) within \(seconds) s; stderr:\n\(stderr)")
    }

    struct WaitFailure: Error, CustomStringConvertible { let description: String }
}

/// Splits stdout into lines as it comes and keeps the JSON objects, the stray lines and the exit code.
private final class OutputReader: Sendable {
    private struct State {
        var pending = Data()
        /// Each JSON object as it came, parsed again when read (a parsed object is not Sendable).
        var messages: [Data] = []
        var stray: [String] = []
        var exitCode: Int32?
    }
    private let state = Mutex(State())

    func take(_ chunk: Data) {
        state.withLock { state in
            state.pending.append(chunk)
            while let newline = state.pending.firstIndex(of: 0x0A) {
                let line = state.pending[state.pending.startIndex..<newline]
                state.pending = Data(state.pending[(newline + 1)...])
                if (try? JSONSerialization.jsonObject(with: line)) is [String: Any] {
                    state.messages.append(Data(line))
                } else {
                    state.stray.append(String(decoding: line, as: UTF8.self))
                }
            }
        }
    }

    func exited(_ code: Int32) { state.withLock { $0.exitCode = code } }
    var messages: [[String: Any]] {
        state.withLock { $0.messages }.compactMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    }
    var stray: [String] { state.withLock { $0.stray } }
    var exitCode: Int32? { state.withLock { $0.exitCode } }
}
