import Foundation
import MCP
import RLMKit
import RLMMCP
import Testing

/// What `rlm_ask` may read: paths under the working directory (or an --allow-root), never outside, whatever
/// `..`, symlinks, absolute paths or globs say; and how its arguments are read.
struct MCPPathConfinementTests {
    /// A working directory `project/` holding `a.txt`, `src/b.swift`, and a sibling `outside/secret.txt`.
    final class World {
        let base: URL
        var project: URL { base.appendingPathComponent("project") }
        var outside: URL { base.appendingPathComponent("outside") }

        init() throws {
            base = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-confine-\(UUID().uuidString.prefix(8))")
                .resolvingSymlinksInPath()
            for folder in ["project/src", "project/.git", "outside"] {
                try FileManager.default.createDirectory(at: base.appendingPathComponent(folder), withIntermediateDirectories: true)
            }
            try "alpha".write(to: project.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
            try "struct B {}".write(to: project.appendingPathComponent("src/b.swift"), atomically: true, encoding: .utf8)
            try "[core]".write(to: project.appendingPathComponent(".git/config"), atomically: true, encoding: .utf8)
            try "top secret".write(to: outside.appendingPathComponent("secret.txt"), atomically: true, encoding: .utf8)
        }
        deinit { try? FileManager.default.removeItem(at: base) }

        func confinement(allowing roots: [String] = []) throws -> PathConfinement {
            try PathConfinement(workingDirectory: project.path, allowedRoots: roots)
        }

        func link(_ name: String, to target: URL) throws {
            try FileManager.default.createSymbolicLink(at: project.appendingPathComponent(name), withDestinationURL: target)
        }
    }

    static func refusal(_ paths: [String], _ confinement: PathConfinement) -> String {
        do {
            _ = try confinement.context(for: paths)
            return ""
        } catch {
            return String(describing: error)
        }
    }

    static func files(of context: RLMContext) -> [String] {
        switch context {
        case .file(let url): [url.path]
        case .files(let urls, _): urls.map(\.path)
        default: []
        }
    }

    @Test func dotDotOutOfTheWorkingDirectoryIsRefused() throws {
        let world = try World()
        let confinement = try world.confinement()
        for path in ["../outside/secret.txt", "src/../../outside/secret.txt", "..", "../outside"] {
            let message = Self.refusal([path], confinement)
            #expect(message.contains("outside the allowed roots") && message.contains("--allow-root"), "\(path): \(message)")
        }
        // `..` that stays inside is fine.
        let (context, _) = try confinement.context(for: ["src/../a.txt"])
        #expect(Self.files(of: context) == [world.project.appendingPathComponent("a.txt").path])
    }

    @Test func aSymlinkPointingOutIsRefusedOrLeftOut() throws {
        let world = try World()
        try world.link("escape.txt", to: world.outside.appendingPathComponent("secret.txt"))
        try world.link("src/escape-dir", to: world.outside)
        try world.link("inside.txt", to: world.project.appendingPathComponent("a.txt"))
        let confinement = try world.confinement()
        #expect(Self.refusal(["escape.txt"], confinement).contains("outside the allowed roots"))
        #expect(Self.refusal(["src/escape-dir/secret.txt"], confinement).contains("outside the allowed roots"))
        // Walking a directory: the link out is left out, and a note says so; the link inside is read.
        let (context, notes) = try confinement.context(for: ["."])
        let files = Self.files(of: context)
        #expect(!files.contains { $0.hasPrefix(world.outside.path) }, "\(files)")
        #expect(files.contains(world.project.appendingPathComponent("src/b.swift").path))
        #expect(!files.contains { $0.contains("/.git/") })
        #expect(notes.contains { $0.contains("2 symlink(s) pointing outside") }, "\(notes)")
    }

    @Test func anAbsolutePathMustLieInsideARoot() throws {
        let world = try World()
        let confinement = try world.confinement()
        #expect(Self.refusal([world.outside.appendingPathComponent("secret.txt").path], confinement).contains("outside the allowed roots"))
        #expect(Self.refusal(["/etc/passwd"], confinement).contains("outside the allowed roots"))
        let inside = world.project.appendingPathComponent("a.txt").path
        #expect(Self.files(of: try confinement.context(for: [inside]).context) == [inside])
    }

    @Test func aGlobThatMatchesOutsideIsRefused() throws {
        let world = try World()
        let confinement = try world.confinement()
        #expect(Self.refusal(["../outside/*.txt"], confinement).contains("outside the allowed roots"))
        #expect(Self.refusal(["../*/secret.txt"], confinement).contains("outside the allowed roots"))
        #expect(Self.refusal(["nothing/*.md"], confinement).contains("matches no file"))
        let (context, _) = try confinement.context(for: ["src/*.swift", "*.txt"])
        #expect(Set(Self.files(of: context)) == [world.project.appendingPathComponent("src/b.swift").path,
                                                   world.project.appendingPathComponent("a.txt").path])
    }

    @Test func allowRootOpensExactlyThatDirectory() throws {
        let world = try World()
        let confinement = try world.confinement(allowing: [world.outside.path])
        let (context, _) = try confinement.context(for: ["../outside/secret.txt"])
        #expect(Self.files(of: context) == [world.outside.appendingPathComponent("secret.txt").path])
        #expect(Self.refusal(["/etc/passwd"], confinement).contains("outside the allowed roots"))
        #expect(throws: ToolFailure.self) { try world.confinement(allowing: ["/no/such/folder"]) }
    }

    @Test func oneDirectoryIsKeyedRelativeToItself() throws {
        let world = try World()
        let (context, _) = try world.confinement().context(for: ["src"])
        guard case .files(let urls, let root) = context else {
            Issue.record("expected files, got \(context)")
            return
        }
        #expect(root.path == world.project.appendingPathComponent("src").path)
        #expect(urls.map(\.lastPathComponent) == ["b.swift"])
    }

    @Test func argumentsTakeQueryAndPathsOrText() throws {
        #expect(try AskTool.arguments(from: ["query": "q", "text": "t"]) == .init(query: "q", input: .text("t")))
        #expect(try AskTool.arguments(from: ["query": "q", "paths": ["a", "b/*.md"]]) == .init(query: "q", input: .paths(["a", "b/*.md"])))
        #expect(try AskTool.arguments(from: ["query": "q", "paths": "a", "text": .null]) == .init(query: "q", input: .paths(["a"])))
        let problems: [([String: Value], String)] = [
            (["text": "t"], "`query` is missing"),
            (["query": "  ", "text": "t"], "`query` is missing"),
            (["query": "q"], "there is no input"),
            (["query": "q", "text": "t", "paths": ["a"]], "both `paths` and `text`"),
            (["query": "q", "paths": [1]], "must be an array of strings"),
            (["query": "q", "paths": []], "`paths` is empty"),
            (["query": "q", "text": 3], "`text` must be a string"),
            (["query": "q", "text": "t", "context": "x"], "unknown argument `context`"),
        ]
        for (values, words) in problems {
            do {
                _ = try AskTool.arguments(from: values)
                Issue.record("accepted \(values)")
            } catch {
                #expect(String(describing: error).contains(words), "\(values): \(error)")
            }
        }
    }
}
