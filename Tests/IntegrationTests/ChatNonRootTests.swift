import Foundation
import ModelSimulator
import Subprocess
import Testing
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// `rlm chat` as an ordinary user (uid 65534 through setpriv when the suite runs as root), at every sandbox
/// level: two questions on one REPL, a saved session, and a host tool from the user's config file.
@Suite(.serialized) struct ChatNonRootTests {
    @Test(arguments: ["strict", "basic", "none"])
    func chatSavesAndCallsAToolAsAnOrdinaryUser(sandbox: String) async throws {
        guard let workspace = try NonRootUserTests.workspace() else { return }
        defer { workspace.remove() }
        let (python, binary, folder) = (workspace.python, workspace.binary, workspace.folder)
        let context = folder.appendingPathComponent("context.txt")
        try "hello world".write(to: context, atomically: true, encoding: .utf8)
        let config = folder.appendingPathComponent("config.toml")
        try """
            [tools.shout]
            description = "Returns its arguments in capitals."
            command = ["/bin/sh", "-c", "tr a-z A-Z"]
            """.write(to: config, atomically: true, encoding: .utf8)
        let saved = folder.appendingPathComponent("saved")
        try FileManager.default.createDirectory(at: saved, withIntermediateDirectories: true)
        for path in [context.path, config.path, saved.path, folder.path] {
            try FileManager.default.setAttributes([.posixPermissions: path == saved.path || path == folder.path ? 0o777 : 0o644], ofItemAtPath: path)
        }
        let server = try await ModelSimulator.start(models: ["root"]) { request in
            if request.systemText.hasPrefix("You condense") { return SimulatedReply(text: "Summary.") }
            if request.lastUserText.contains("The question to answer:\nfirst") {
                return SimulatedReply(text: replBlock("n = len(context)\nFINAL(str(n))"))
            }
            return SimulatedReply(text: replBlock("FINAL(shout(text='n is %d' % n)['TEXT'])"))
        }
        defer { Task { await server.shutdown() } }
        let arguments = NonRootUserTests.asUser + [binary.path, "chat", "--context", context.path, "--sandbox", sandbox, "--no-log"]
        let result = try await Subprocess.run(
            .path(FilePath(arguments[0])), arguments: Arguments(Array(arguments.dropFirst())),
            environment: .custom(["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "XDG_CACHE_HOME": "/tmp",
                                  "RLM_CONFIG": config.path, "RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root",
                                  "RLM_PYTHON": python]),
            input: .string("first\nsecond\n/save \(saved.path)\n"), output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        #expect(result.terminationStatus == .exited(0), "stderr: \(result.standardError)")
        #expect(result.standardOutput == "11\nN IS 11\n", "stderr: \(result.standardError)")
        #expect(FileManager.default.fileExists(atPath: saved.appendingPathComponent("variables.pickle").path),
                "stderr: \(result.standardError)")
    }
}
