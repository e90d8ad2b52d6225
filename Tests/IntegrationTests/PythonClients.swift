import Foundation

/// The Python interpreter of `.build-clients/venv`, which holds the official `openai` and `mcp` packages:
/// clients written by others, used to check `rlm serve` and `rlm mcp`.
///
/// `scripts/python-clients.sh` creates the environment once (CI runs it before the tests); asking here runs it
/// too, so a plain `swift test` sets it up where PyPI is reachable. When it cannot, the error says why, and the
/// test that needed it fails: it never passes without the real client.
enum PythonClients {
    struct Unavailable: Error, CustomStringConvertible {
        let description: String
    }

    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// Path of the interpreter that can `import openai, mcp`.
    static func interpreter() throws -> String {
        try cached.get()
    }

    private static let cached: Result<String, Unavailable> = {
        let script = repositoryRoot.appendingPathComponent("scripts/python-clients.sh").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script]
        // One pipe for both streams, so neither can fill up while the other is read; the path is the last line.
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        do {
            try process.run()
        } catch {
            return .failure(Unavailable(description: "cannot run \(script): \(error)"))
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        process.waitUntilExit()
        let path = text.split(separator: "\n").last.map(String.init) ?? ""
        let message = text
        guard process.terminationStatus == 0, FileManager.default.isExecutableFile(atPath: path) else {
            return .failure(Unavailable(description: "the openai/mcp client environment is missing: \(message)"))
        }
        return .success(path)
    }()
}
