import Foundation
import ModelSimulator
import Testing

/// `rlm serve --files-root` walks a folder with the same walker as `--context DIR` and `rlm_ask`: the
/// version-control folders that may hold credentials are never read, however the request names them.
@Suite struct FilesRootWalkTests {
    @Test func versionControlFoldersUnderTheFilesRootNeverReachTheCode() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-files-walk-\(UUID().uuidString.prefix(8))")
            .resolvingSymlinksInPath()
        defer { try? FileManager.default.removeItem(at: root) }
        let repo = root.appendingPathComponent("repo")
        for folder in [".git", ".hg", ".svn", "src"] {
            try FileManager.default.createDirectory(at: repo.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        try "print('hi')".write(to: repo.appendingPathComponent("src/main.py"), atomically: true, encoding: .utf8)
        try "[remote \"origin\"]\n\turl = https://user:GIT-SECRET-TOKEN@example.invalid/r.git\n"
            .write(to: repo.appendingPathComponent(".git/config"), atomically: true, encoding: .utf8)
        try "[auth]\npassword = HG-SECRET\n".write(to: repo.appendingPathComponent(".hg/hgrc"), atomically: true, encoding: .utf8)
        try "SVN-SECRET".write(to: repo.appendingPathComponent(".svn/auth"), atomically: true, encoding: .utf8)
        // A link into the skipped folder would smuggle it back in.
        let sneaky = root.appendingPathComponent("sneaky")
        try FileManager.default.createDirectory(at: sneaky, withIntermediateDirectories: true)
        try "ok".write(to: sneaky.appendingPathComponent("fine.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(at: sneaky.appendingPathComponent("notes.txt"),
                                                   withDestinationURL: repo.appendingPathComponent(".git/config"))

        let model = try await ModelSimulator.start(models: ["root"]) { _ in SimulatedReply(text: replBlock("FINAL(repr(context))")) }
        defer { Task { await model.shutdown() } }
        let (replies, run) = try await Serve.with(
            ["--files-root", root.path, "--no-log", "--sandbox", "basic"],
            environment: ["RLM_MODEL": "root", "RLM_BASE_URL": model.baseURL]
        ) { handle in
            var replies: [String: Serve.Reply] = [:]
            for path in ["repo", ".", "repo/.git/config", "repo/.git", "sneaky"] {
                replies[path] = try await Serve.request(handle, "POST", "/v1/chat/completions", json: Serve.chat("q", paths: [path]))
            }
            return replies
        }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        func answer(_ path: String) -> String {
            ((replies[path]?.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String ?? ""
        }
        // Keys are relative to the files root; the three folders are left out.
        #expect(answer("repo") == "{'repo/src/main.py': \"print('hi')\"}", "\(replies["repo"]?.body ?? "")")
        // Named outright, or through a link (the root holds the link too), they are refused.
        for refused in ["repo/.git/config", "repo/.git", "sneaky", "."] {
            #expect(replies[refused]?.status == 403, "\(refused): \(replies[refused]?.body ?? "")")
        }
        for secret in ["GIT-SECRET-TOKEN", "HG-SECRET", "SVN-SECRET"] {
            #expect(!replies.values.contains { $0.body.contains(secret) }, "\(secret) reached a reply")
        }
    }
}
