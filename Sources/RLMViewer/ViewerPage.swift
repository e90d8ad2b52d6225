import Foundation

/// Assembles the viewer: one HTML file with its CSS, its JavaScript and the runs' events inline, so it opens from
/// disk with no network. The same page, without events, follows a growing log when served live.
public enum ViewerPage {
    /// The page for one run, or two runs side by side.
    public static func html(runs: [TrajectoryFile]) throws -> String {
        let entries = try runs.map { run in
            "{\"name\":\(try jsonString(run.name)),\"notes\":\(try jsonString(run.notes)),\"events\":\(run.jsonArray)}"
        }
        let title = runs.map(\.name).joined(separator: " vs ")
        return try assemble(title: title, data: "{\"live\":null,\"runs\":[\(entries.joined(separator: ",\n"))]}")
    }

    /// The live page: it asks `logPath` for the log's lines as they are written (see ``LiveViewServer``).
    public static func liveHTML(name: String, logPath: String) throws -> String {
        let live = "{\"log\":\(try jsonString(logPath)),\"name\":\(try jsonString(name))}"
        return try assemble(title: name + " (live)", data: "{\"live\":\(live),\"runs\":[]}")
    }

    static func assemble(title: String, data: String) throws -> String {
        let template = try resource("viewer", "html")
        let css = try resource("viewer", "css")
        let script = try scriptFiles.map { try resource($0, "js") }.joined(separator: "\n")
        // The script and style are inlined as they are; neither may close its own element early.
        guard !script.contains("</script"), !css.contains("</style") else {
            throw ViewerError("the viewer's bundled script or style closes its own element; this is a bug in rlm, please report it.")
        }
        return template
            .replacingOccurrences(of: "{{TITLE}}", with: htmlEscaped(title))
            .replacingOccurrences(of: "/*{{CSS}}*/", with: css)
            .replacingOccurrences(of: "{{DATA}}", with: data)
            .replacingOccurrences(of: "/*{{SCRIPT}}*/", with: script)
    }

    /// The viewer's scripts, in the order they run: the run model, then what draws it, then the page.
    static let scriptFiles = ["model", "format", "tree", "detail", "charts", "compare", "app"]

    static func resource(_ name: String, _ ext: String) throws -> String {
        // Compiled into the binary from Resources/ (the EmbedResources plugin).
        guard let text = EmbeddedResources.files["\(name).\(ext)"] else {
            throw ViewerError("the viewer's \(name).\(ext) is not compiled into rlm; this is a bug in rlm's build, please report it.")
        }
        return text
    }

    static func jsonString<Value: Encodable>(_ value: Value) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return TrajectoryFile.scriptSafe(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    static func htmlEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
