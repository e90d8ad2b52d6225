import Foundation
import ModelSimulator
import Subprocess
import Testing
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// A directory context is read by the driver itself from a manifest, through a read-only view of the folder:
/// `context` stays `{relative path: text}` at every sandbox level and for an unprivileged user, binary and
/// undecodable files are reported as before, and version-control folders stay out of the strict sandbox.
@Suite(.serialized) struct DirectoryContextTests {
    static let code = """
        import os
        keys = sorted(context)
        try:
            open(os.path.join(ROOT, ".git", "config")).read()
            git = "readable"
        except OSError:
            git = "hidden"
        FINAL(repr((keys, context["a.txt"], context["sub/b.py"], "\\ufffd" in context["bad.txt"], git)))
        """

    static func makeTree(at root: URL) throws {
        let manager = FileManager.default
        try manager.createDirectory(at: root.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try manager.createDirectory(at: root.appendingPathComponent(".git"), withIntermediateDirectories: true)
        try "alpha\r\nline two\n".write(to: root.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
        try "def f():\n    return 'é'\n".write(to: root.appendingPathComponent("sub/b.py"), atomically: true, encoding: .utf8)
        try Data([0x61, 0xff, 0x62]).write(to: root.appendingPathComponent("bad.txt"))
        try Data([0x00, 0x01, 0x02]).write(to: root.appendingPathComponent("image.bin"))
        try "[remote]\n token = secret\n".write(to: root.appendingPathComponent(".git/config"), atomically: true, encoding: .utf8)
        for path in (try manager.subpathsOfDirectory(atPath: root.path)) + [""] {
            let full = root.appendingPathComponent(path).path
            var isDirectory: ObjCBool = false
            _ = manager.fileExists(atPath: full, isDirectory: &isDirectory)
            try manager.setAttributes([.posixPermissions: isDirectory.boolValue ? 0o755 : 0o644], ofItemAtPath: full)
        }
    }

    @Test(arguments: ["strict", "basic", "none"])
    func theDictionaryIsTheSameAtEveryLevelAndForAnOrdinaryUser(sandbox: String) async throws {
        let binary = try NonRootUserTests.reachableBinary()
        let folder = binary.deletingLastPathComponent()
        defer { try? FileManager.default.removeItem(at: folder) }
        let root = folder.appendingPathComponent("tree")
        try Self.makeTree(at: root)
        let server = try await ModelSimulator.start(models: ["root"]) { _ in
            SimulatedReply(text: replBlock("ROOT = \(String(reflecting: root.path))\n" + Self.code))
        }
        defer { Task { await server.shutdown() } }
        let python = NonRootUserTests.systemPython ?? "python3"
        for asUser in [[], NonRootUserTests.asUser] {
            let arguments = asUser + [binary.path, "ask", "q", "--context", root.path, "--sandbox", sandbox, "--no-log", "--json"]
            let result = try await Subprocess.run(
                .path(FilePath(arguments[0])), arguments: Arguments(Array(arguments.dropFirst())),
                environment: .custom(["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "XDG_CACHE_HOME": "/tmp",
                                      "XDG_CONFIG_HOME": "/tmp", "RLM_BASE_URL": server.baseURL, "RLM_MODEL": "root",
                                      "RLM_PYTHON": python]),
                input: .none, output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
            let stdout = result.standardOutput
            #expect(result.terminationStatus == .exited(0), "user \(asUser) stdout: \(stdout) stderr: \(result.standardError)")
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
            let answer = summary["answer"] as? String ?? ""
            #expect(answer.hasPrefix("(['a.txt', 'bad.txt', 'sub/b.py'], 'alpha\\r\\nline two\\n', \"def f():\\n    return 'é'\\n\", True, "),
                    "\(answer)")
            if sandbox == "strict" { #expect(answer.hasSuffix("'hidden')"), "the .git folder stays out of the strict sandbox") }
            #expect(result.standardError.contains("1 binary file(s) left out (for example image.bin)"), "\(result.standardError)")
            #expect(result.standardError.contains("1 file(s) had invalid UTF-8"))
        }
    }
}
