import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

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

    /// Path of the interpreter that can `import openai, mcp`. The script runs once, whoever asks first; it is
    /// awaited rather than waited for on a thread, so that the tests running meanwhile keep their threads (one
    /// test process runs every suite, and a blocked cooperative thread stalls all of them).
    static func interpreter() async throws -> String {
        try await setUp.value.get()
    }

    private static let setUp = Task<Result<String, Unavailable>, Never> {
        let script = repositoryRoot.appendingPathComponent("scripts/python-clients.sh").path
        do {
            let result = try await Subprocess.run(.path(FilePath("/bin/bash")), arguments: [script],
                                                  output: .string(limit: 1 << 20), error: .string(limit: 16 << 20))
            let text = result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
            let path = text.split(separator: "\n").last.map(String.init) ?? ""
            guard case .exited(0) = result.terminationStatus, FileManager.default.isExecutableFile(atPath: path) else {
                return .failure(Unavailable(description: "the openai/mcp client environment is missing: \(text)\n"
                                            + result.standardError))
            }
            return .success(path)
        } catch {
            return .failure(Unavailable(description: "cannot run \(script): \(error)"))
        }
    }
}
