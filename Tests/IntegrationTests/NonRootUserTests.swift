import Foundation
import RLMTesting
import Subprocess
import Testing
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// `rlm` as an ordinary user who already runs hundreds of threads elsewhere (any desktop session), at every
/// sandbox level. When the suite runs as root, `rlm` runs as uid 65534 (nobody) through setpriv.
@Suite(.serialized) struct NonRootUserTests {
    static let nobody = "65534"

    /// A copy of the binary and its resources that an unprivileged user can reach (the checkout may sit in a
    /// 0700 home folder).
    static func reachableBinary() throws -> URL {
        let source = URL(fileURLWithPath: CLI.binary)
        let folder = URL(fileURLWithPath: "/tmp/rlm-nonroot-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let siblings = try FileManager.default.contentsOfDirectory(atPath: source.deletingLastPathComponent().path)
        for name in siblings where name == "rlm" || name.hasSuffix(".resources") {
            try FileManager.default.copyItem(at: source.deletingLastPathComponent().appendingPathComponent(name),
                                             to: folder.appendingPathComponent(name))
        }
        _ = try? FileManager.default.subpathsOfDirectory(atPath: folder.path).map {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder.appendingPathComponent($0).path)
        }
        return folder.appendingPathComponent("rlm")
    }

    /// The command prefix that runs a program as the unprivileged user (empty when the suite is not root).
    static var asUser: [String] {
        getuid() == 0 ? ["/usr/bin/setpriv", "--reuid", nobody, "--regid", nobody, "--clear-groups", "--"] : []
    }

    /// A Python interpreter the unprivileged user can run.
    static var systemPython: String? {
        ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// What a test of `rlm` as the unprivileged user needs: a Python that user can run, and a copy of the binary in
    /// a folder of its own, which `remove()` deletes.
    struct Workspace {
        let python: String
        let binary: URL
        var folder: URL { binary.deletingLastPathComponent() }
        func remove() { try? FileManager.default.removeItem(at: folder) }
    }

    /// The workspace, or nil after recording an issue when there is no system Python.
    static func workspace() throws -> Workspace? {
        guard let python = systemPython else {
            Issue.record("no system python3 in /usr/bin or /usr/local/bin: install Debian's python3")
            return nil
        }
        return Workspace(python: python, binary: try reachableBinary())
    }

    @Test(arguments: ["strict", "basic", "none"])
    func threadPoolOfSubCallsWorksForAnOrdinaryUser(sandbox: String) async throws {
        guard let python = Self.systemPython else {
            Issue.record("no system python3 in /usr/bin or /usr/local/bin: install Debian's python3")
            return
        }
        if getuid() == 0 {
            #expect(FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "setpriv (util-linux) is needed to run rlm as uid 65534")
        }
        let binary = try Self.reachableBinary()
        defer { try? FileManager.default.removeItem(at: binary.deletingLastPathComponent()) }
        let context = binary.deletingLastPathComponent().appendingPathComponent("context.txt")
        try "one small context\n".write(to: context, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: context.path)

        let server = try await ModelSimulator.start(models: ["root", "sub"]) { request in
            if request.model == "sub" { return SimulatedReply(text: "ok", delay: .milliseconds(20)) }
            if request.assistantTurns == 0 {
                return SimulatedReply(text: replBlock("""
                    from concurrent.futures import ThreadPoolExecutor
                    with ThreadPoolExecutor(64) as pool:
                        answers = list(pool.map(lambda i: llm_query('part %d' % i), range(128)))
                    result = '%d ok' % answers.count('ok')
                    """))
            }
            return SimulatedReply(text: replBlock("FINAL(result)"))
        }
        defer { Task { await server.shutdown() } }

        // 200 threads of the same user, running elsewhere for the length of the test.
        let crowd = try await Self.startThreads(200, python: python)
        defer { kill(crowd, SIGKILL) }

        let arguments = Self.asUser + [binary.path, "ask", "q", "--context", context.path, "--sandbox", sandbox,
                                       "--sub-model", "sub", "--max-concurrency", "64", "--no-log", "--json"]
        let home = "/tmp"
        let result = try await Subprocess.run(
            .path(FilePath(arguments[0])), arguments: Arguments(Array(arguments.dropFirst())),
            environment: .custom([
                "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "XDG_CACHE_HOME": home, "XDG_CONFIG_HOME": home,
                "RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root", "RLM_PYTHON": python,
            ]),
            input: .none, output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        let stdout = result.standardOutput
        let stderr = result.standardError
        #expect(result.terminationStatus == .exited(0), "stdout: \(stdout)\nstderr: \(stderr)")
        #expect(stdout.contains("\"answer\":\"128 ok\""), "stdout: \(stdout)\nstderr: \(stderr)")
        #expect(!stderr.contains("can't start new thread"))
    }

    @Test func aForkBombOfAnOrdinaryUserLeavesNothingBehind() async throws {
        guard let python = Self.systemPython else {
            Issue.record("no system python3 in /usr/bin or /usr/local/bin: install Debian's python3")
            return
        }
        let binary = try Self.reachableBinary()
        defer { try? FileManager.default.removeItem(at: binary.deletingLastPathComponent()) }
        let context = binary.deletingLastPathComponent().appendingPathComponent("context.txt")
        try "context\n".write(to: context, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: context.path)
        let server = try await ModelSimulator.start(models: ["root"]) { request in
            if request.assistantTurns == 0 {
                return SimulatedReply(text: replBlock("""
                    import os, time
                    started = 0
                    try:
                        while started < 5000:
                            if os.fork() == 0:
                                while True:
                                    try:
                                        os.fork()
                                    except OSError:
                                        time.sleep(0.01)
                            started += 1
                    except OSError as refused:
                        print('fork refused after', started)
                    result = 'survived'
                    """))
            }
            return SimulatedReply(text: replBlock("FINAL(result)"))
        }
        defer { Task { await server.shutdown() } }
        let arguments = Self.asUser + [binary.path, "ask", "q", "--context", context.path, "--sandbox", "basic",
                                       "--cell-timeout", "5", "--no-log", "--json"]
        let result = try await Subprocess.run(
            .path(FilePath(arguments[0])), arguments: Arguments(Array(arguments.dropFirst())),
            environment: .custom(["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "XDG_CACHE_HOME": "/tmp",
                                  "XDG_CONFIG_HOME": "/tmp", "RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root",
                                  "RLM_PYTHON": python]),
            input: .none, output: .string(limit: 1 << 20), error: .string(limit: 1 << 20)
        ) { execution in execution.processIdentifier.value }
        #expect(result.terminationStatus == .exited(0), "stderr: \(result.standardError)")
        #expect(result.standardOutput.contains("\"answer\":\"survived\""))
        try await Task.sleep(for: .milliseconds(500))
        // The REPL's folder carries the host's pid: no process of this run is left.
        #expect(CLI.processes(matching: "rlm-\(result.closureResult)-").isEmpty)
    }

    /// Starts a process of the unprivileged user that holds `count` threads; returns its pid once they run.
    static func startThreads(_ count: Int, python: String) async throws -> pid_t {
        let script = """
            import sys, threading, time
            for _ in range(\(count)):
                threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
            print('ready', threading.active_count(), flush=True)
            time.sleep(600)
            """
        let arguments = asUser + [python, "-c", script]
        let pipe = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.standardOutput = pipe
        try process.run()
        let line = await offCooperativeThreads {
            var line = Data()
            while !line.contains(UInt8(ascii: "\n")) {
                let chunk = pipe.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                line += chunk
            }
            return line
        }
        #expect(String(decoding: line, as: UTF8.self).hasPrefix("ready \(count + 1)"))
        return process.processIdentifier
    }
}
