import Foundation
import Subprocess
import Testing
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// `rlm` copied alone into an empty folder, as the release archive ships it: the REPL driver and the viewer's files
/// are compiled in (no `*.resources` bundle beside it), and the hidden `rlm simulate` serves the model that
/// scripts/check-release.sh asks on a machine with no model server.
@Suite(.serialized) struct StandaloneBinaryTests {
    /// A copy of the binary alone in a new folder under /tmp, which the unprivileged user can reach (0755).
    static func loneCopy() throws -> URL {
        let folder = URL(fileURLWithPath: "/tmp/rlm-alone-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let copy = folder.appendingPathComponent("rlm")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: CLI.binary), to: copy)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: copy.path)
        return copy
    }

    /// Runs the copy at `binary` in `folder` to its end, with the clean environment of ``CLI``.
    static func run(_ binary: URL, _ arguments: [String], environment: [String: String] = [:]) async throws -> CLI.Run {
        let result = try await Subprocess.run(
            .path(FilePath(binary.path)), arguments: Arguments(arguments), environment: .custom(CLI.environment(environment)),
            workingDirectory: FilePath(binary.deletingLastPathComponent().path),
            input: .none, output: .string(limit: 16 << 20), error: .string(limit: 16 << 20))
        guard case .exited(let code) = result.terminationStatus else { return CLI.Run(exitCode: -1, stdout: "", stderr: "") }
        return CLI.Run(exitCode: code, stdout: result.standardOutput, stderr: result.standardError)
    }

    @Test func versionNamesTheVersionAndWhetherTheCommitWasRecorded() async throws {
        let run = try await CLI.run(["--version"])
        #expect(run.exitCode == 0)
        // A test build is not a release: it says the commit was not recorded rather than inventing one.
        #expect(run.stdout.hasPrefix("0."))
        #expect(run.stdout.contains("commit"))
    }

    @Test(.timeLimit(.minutes(2)))
    func aLoneCopyAnswersThroughTheREPLFromRLMSimulateRunByAnOrdinaryUserAndWritesTheViewerPage() async throws {
        let binary = try Self.loneCopy()
        let folder = binary.deletingLastPathComponent()
        defer { try? FileManager.default.removeItem(at: folder) }
        // The server runs as an ordinary user (nobody, when the suite is root), who may set fewer socket options.
        let serverFolder = folder.appendingPathComponent("server")
        try FileManager.default.createDirectory(at: serverFolder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        if getuid() == 0 { _ = chown(serverFolder.path, 65534, 65534) }
        let urlFile = serverFolder.appendingPathComponent("url").path
        let serverCommand = NonRootUserTests.asUser + [binary.path, "simulate", "--url-file", urlFile]
        let context = folder.appendingPathComponent("notes.txt")
        try "Log.\nthe special magic number for harbour is 4817.\nEnd.\n".write(to: context, atomically: true, encoding: .utf8)
        let log = folder.appendingPathComponent("run.jsonl").path
        let page = folder.appendingPathComponent("run.html").path

        let server = try await Subprocess.run(
            .path(FilePath(serverCommand[0])), arguments: Arguments(Array(serverCommand.dropFirst())),
            environment: .custom(CLI.environment([:])), input: .none,
            output: .string(limit: 1 << 20), error: .string(limit: 1 << 20)
        ) { execution -> Result<(CLI.Run, CLI.Run), any Error> in
            defer { _ = kill(execution.processIdentifier.value, SIGTERM) }
            do {
                var baseURL = ""
                for _ in 0..<600 where baseURL.isEmpty {
                    baseURL = (try? String(contentsOfFile: urlFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                    if baseURL.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
                }
                let ask = try await Self.run(binary,
                    ["ask", "--model", "simulated-root", "--sub-model", "simulated-sub", "--quiet", "--context", context.path,
                     "--log", log, "What is the special magic number for harbour mentioned in the context?"],
                    environment: ["RLM_BASE_URL": baseURL])
                let view = try await Self.run(binary, ["view", log, "--output", page])
                return .success((ask, view))
            } catch {
                return .failure(error)
            }
        }
        let (ask, view) = try server.closureResult.get()
        #expect(ask.exitCode == 0, "\(ask.stderr)")
        #expect(ask.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "4817")
        #expect(view.exitCode == 0, "\(view.stderr)")
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.contains("<style>") && html.contains("</script>"))
        // Nothing but what the test wrote appeared beside the binary: no resource bundle was needed or made.
        let siblings = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        #expect(!siblings.contains { $0.hasSuffix(".resources") })
    }
}
