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
    /// `sys.prefix` and `sys.base_prefix`: the folders its standard library and packages live in.
    public var prefixes: [String]
}

/// Why no usable Python interpreter could be started.
public struct PythonNotFound: Error, CustomStringConvertible, Sendable {
    public var requested: String
    public var detail: String
    public var description: String {
        "no usable Python 3 interpreter at '\(requested)' (\(detail)). The REPL needs Python 3.8 or newer: install it (for example `apt-get install python3`) or name one with --python PATH / RLM_PYTHON."
    }
}

/// Runs a short helper command to completion and collects its output.
enum ProcessRunner {
    /// Exit status (-1 when it could not start or was killed) and stdout followed by stderr.
    static func run(_ executable: String, _ arguments: [String]) async -> (Int32, String) {
        let target: Executable = executable.contains("/") ? .path(FilePath(executable)) : .name(executable)
        do {
            let result = try await Subprocess.run(target, arguments: Arguments(arguments),
                                                  output: .string(limit: 1 << 16), error: .string(limit: 1 << 16))
            guard case .exited(let code) = result.terminationStatus else { return (-1, result.standardError) }
            return (code, result.standardOutput + result.standardError)
        } catch {
            return (-1, "it could not be started")
        }
    }
}

enum PythonLocator {
    /// Finds `requested` (a path, or a name looked up on PATH) and asks it for its real executable and version.
    static func locate(_ requested: String?) async throws -> PythonInterpreter {
        let name = requested ?? "python3"
        let probe = "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3]); print(sys.version_info >= (3, 8)); print(sys.prefix); print(sys.base_prefix)"
        let (code, output) = await ProcessRunner.run(name, ["-I", "-c", probe])
        let lines = output.split(separator: "\n").map(String.init)
        guard code == 0, lines.count >= 5 else {
            throw PythonNotFound(requested: name, detail: lines.last ?? "it exited with status \(code)")
        }
        guard lines[2] == "True" else {
            throw PythonNotFound(requested: name, detail: "it is version \(lines[1])")
        }
        return PythonInterpreter(executable: lines[0].isEmpty ? name : lines[0], version: lines[1],
                                 prefixes: Array(Set([lines[3], lines[4]])).sorted())
    }
}
