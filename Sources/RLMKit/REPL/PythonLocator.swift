import Foundation
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// A Python interpreter that was found and checked.
public struct PythonInterpreter: Sendable, Equatable {
    /// The real executable (resolved through launcher shims such as pyenv's).
    public var executable: String
    public var version: String
}

/// Why no usable Python interpreter could be started.
public struct PythonNotFound: Error, CustomStringConvertible, Sendable {
    public var requested: String
    public var detail: String
    public var description: String {
        "no usable Python 3 interpreter at '\(requested)' (\(detail)). The REPL needs Python 3.8 or newer: install it (for example `apt-get install python3`) or name one with --python PATH / RLM_PYTHON."
    }
}

enum PythonLocator {
    /// Finds `requested` (a path, or a name looked up on PATH) and asks it for its real executable and version.
    static func locate(_ requested: String?) async throws -> PythonInterpreter {
        let name = requested ?? "python3"
        let executable: Executable = name.contains("/") ? .path(FilePath(name)) : .name(name)
        let probe = "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3]); print(sys.version_info >= (3, 8))"
        let result: ExecutionResult<Void, StringOutput<UTF8>, StringOutput<UTF8>>
        do {
            result = try await Subprocess.run(executable, arguments: ["-I", "-c", probe],
                                              output: .string(limit: 1 << 16), error: .string(limit: 1 << 16))
        } catch {
            throw PythonNotFound(requested: name, detail: "it could not be started")
        }
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        guard case .exited(0) = result.terminationStatus, lines.count >= 3 else {
            let reason = result.standardError.split(separator: "\n").last.map(String.init) ?? "it exited with \(result.terminationStatus)"
            throw PythonNotFound(requested: name, detail: reason)
        }
        guard lines[2] == "True" else {
            throw PythonNotFound(requested: name, detail: "it is version \(lines[1])")
        }
        return PythonInterpreter(executable: lines[0].isEmpty ? name : lines[0], version: lines[1])
    }
}
