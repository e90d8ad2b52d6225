import Foundation
import RLMTesting
import Subprocess
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs the real `rlm` binary that `swift build` put next to the test bundle.
enum CLI {
    struct Run {
        var exitCode: Int32
        var stdout: String
        var stderr: String
    }

    static var binary: String {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("rlm").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/rlm").path
    }

    /// The environment of a clean shell: no key, no endpoint, no user config file, unless the test adds them.
    static func environment(_ extra: [String: String]) -> [Environment.Key: String] {
        let inherited = ProcessInfo.processInfo.environment
        let temporary = FileManager.default.temporaryDirectory
        var values: [String: String] = ["PATH": inherited["PATH"] ?? "/usr/bin:/bin", "HOME": inherited["HOME"] ?? "/tmp",
                                        "XDG_CACHE_HOME": temporary.appendingPathComponent("rlm-test-cache").path,
                                        // A folder that does not exist: the developer's own config and trust list stay out.
                                        "XDG_CONFIG_HOME": temporary.appendingPathComponent("rlm-test-no-config").path]
        for (key, value) in extra { values[key] = value }
        var result: [Environment.Key: String] = [:]
        for (key, value) in values { if let key = Environment.Key(rawValue: key) { result[key] = value } }
        return result
    }

    /// True when nothing listens on the loopback ports where `rlm` looks for a local model server.
    static var noLocalModelServer: Bool {
        [11434, 8080, 8000, 1234].allSatisfy { port in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return true }
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            return connected != 0
        }
    }

    /// Runs `rlm` to its end; `workingDirectory` nil keeps the test's own.
    static func run(_ arguments: [String], environment extra: [String: String] = [:], stdin: String? = nil,
                    workingDirectory: String? = nil) async throws -> Run {
        let result = try await Subprocess.run(
            .path(FilePath(binary)), arguments: Arguments(arguments), environment: .custom(environment(extra)),
            workingDirectory: workingDirectory.map { FilePath($0) },
            input: .string(stdin ?? ""), output: .string(limit: 64 << 20), error: .string(limit: 16 << 20))
        let code: Int32
        switch result.terminationStatus {
        case .exited(let value): code = value
        default: code = -1
        }
        return Run(exitCode: code, stdout: result.standardOutput, stderr: result.standardError)
    }
}

/// Writes a temporary file that is removed when the test ends.
final class TemporaryFile {
    let url: URL
    init(named name: String = UUID().uuidString, contents: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-it-\(UUID().uuidString.prefix(8))-\(name)")
        try contents.write(to: url, atomically: true, encoding: .utf8)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    var path: String { url.path }
}

func replBlock(_ code: String) -> String { "```repl\n\(code)\n```" }

extension CLI {
    /// Runs `rlm`, sends it SIGINT once `ready()` holds (checked every 100 ms, for at most 30 s), and waits.
    static func runInterrupted(_ arguments: [String], environment extra: [String: String],
                               when ready: @escaping @Sendable () -> Bool) async throws -> (run: Run, pid: Int32) {
        let result = try await Subprocess.run(
            .path(FilePath(binary)), arguments: Arguments(arguments), environment: .custom(environment(extra)),
            input: .none, output: .string(limit: 16 << 20), error: .string(limit: 16 << 20)
        ) { execution in
            for _ in 0..<300 where !ready() { try await Task.sleep(for: .milliseconds(100)) }
            try execution.send(signal: .interrupt)
            return execution.processIdentifier.value
        }
        let code: Int32
        if case .exited(let value) = result.terminationStatus { code = value } else { code = -1 }
        return (Run(exitCode: code, stdout: result.standardOutput, stderr: result.standardError), result.closureResult)
    }

    /// Command lines of running processes that contain `text`.
    static func processes(matching text: String) -> [String] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.filter { $0.allSatisfy(\.isNumber) } ?? []
        return pids.compactMap { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let line = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            return line.contains(text) ? line : nil
        }
    }
}

/// Runs blocking work (a read that waits on a child, a scan of a /proc table) on a thread of its own. One test
/// process runs every suite on a couple of cooperative threads: one held by a slow read stalls all of them, and
/// a test that counts on timely cancellation then fails for nothing.
func offCooperativeThreads<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: body()) }
    }
}
