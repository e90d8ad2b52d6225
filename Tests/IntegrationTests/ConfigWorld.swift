import Foundation

/// A project folder with its own `rlm.toml`, and a private user config folder (XDG_CONFIG_HOME), both
/// removed when the test ends.
final class ConfigWorld {
    let project: URL
    let configHome: URL
    let input: TemporaryFile

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-trust-\(UUID().uuidString.prefix(8))")
        project = base.appendingPathComponent("project")
        configHome = base.appendingPathComponent("config")
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: configHome, withIntermediateDirectories: true)
        input = try TemporaryFile(contents: "context")
    }
    deinit { try? FileManager.default.removeItem(at: project.deletingLastPathComponent()) }

    var projectFile: URL { project.appendingPathComponent("rlm.toml") }
    var trustList: URL { configHome.appendingPathComponent("rlm/trusted.json") }

    func writeProjectFile(_ text: String) throws { try text.write(to: projectFile, atomically: true, encoding: .utf8) }

    func writeUserFile(_ text: String) throws {
        let folder = configHome.appendingPathComponent("rlm")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try text.write(to: folder.appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)
    }

    /// `rlm ARGUMENTS` run in the project folder with this world's XDG_CONFIG_HOME.
    func rlm(_ arguments: [String], environment: [String: String] = [:]) async throws -> CLI.Run {
        var values = environment
        values["XDG_CONFIG_HOME"] = configHome.path
        return try await CLI.run(arguments, environment: values, workingDirectory: project.path)
    }

    func ask(_ extra: [String] = [], environment: [String: String] = [:]) async throws -> CLI.Run {
        try await rlm(["ask", "q", "--context", input.path, "--no-log"] + extra, environment: environment)
    }
}

/// The first line of a trajectory log: its header (models, endpoints, limits).
func logHeader(_ url: URL) throws -> [String: Any] {
    let first = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").first ?? ""
    return try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any] ?? [:]
}
