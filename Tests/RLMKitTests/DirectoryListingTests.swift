import Foundation
@testable import RLMKit
import Testing

/// The one directory walker (`--context DIR`, `rlm_ask`'s paths, `rlm serve --files-root`) and the one glob.
@Suite struct DirectoryListingTests {
    final class Tree {
        let root: URL
        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-walk-\(UUID().uuidString.prefix(8))")
                .resolvingSymlinksInPath()
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(at: root) }
        var path: String { root.path }
        func write(_ name: String, _ text: String = "x") throws {
            let file = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        func link(_ name: String, to target: String) throws {
            try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent(name).path, withDestinationPath: target)
        }
    }

    @Test func everySkippedFolderIsLeftOutAndNamed() throws {
        let tree = try Tree()
        try tree.write("src/main.swift", "main")
        for folder in RLMContext.skippedDirectoryNames { try tree.write("\(folder)/inside.txt") }
        try tree.write("src/.git/config", "nested")
        let listing = try DirectoryListing.walk(tree.root)
        #expect(listing.relativePaths == ["src/main.swift"])
        #expect(listing.totalBytes == 4)
        #expect(Set(listing.skippedDirectories) == Set(RLMContext.skippedDirectoryNames.map { tree.path + "/" + $0 } + [tree.path + "/src/.git"]))
    }

    @Test func linksToFilesCountLinksToFoldersAreNotFollowed() throws {
        let tree = try Tree()
        try tree.write("real/a.txt", "aaa")
        try tree.link("alias.txt", to: "real/a.txt")
        try tree.link("folder-link", to: "real")
        try tree.link("dangling.txt", to: "nowhere.txt")
        let listing = try DirectoryListing.walk(tree.root)
        #expect(listing.relativePaths == ["alias.txt", "real/a.txt"])
        // Unconfined, a link is read where it stands.
        #expect(listing.files.map(\.path) == [tree.path + "/alias.txt", tree.path + "/real/a.txt"])
    }

    @Test func aLinkIntoASkippedFolderIsLeftOut() throws {
        let tree = try Tree()
        try tree.write(".git/config", "token")
        try tree.write("readme.txt")
        try tree.link("notes.txt", to: ".git/config")
        let listing = try DirectoryListing.walk(tree.root)
        #expect(listing.relativePaths == ["readme.txt"])
        #expect(listing.linksOutside == ["notes.txt"])
    }

    @Test func aConfinedWalkReadsLinkTargetsAndNamesLinksOutside() throws {
        let outside = try Tree()
        try outside.write("secret.txt", "secret")
        let tree = try Tree()
        try tree.write("a.txt")
        try tree.link("in.txt", to: tree.path + "/a.txt")
        try tree.link("out.txt", to: outside.path + "/secret.txt")
        try tree.link("out-folder", to: outside.path)
        let root = tree.path
        let listing = try DirectoryListing.walk(tree.root) { $0 == root || $0.hasPrefix(root + "/") }
        #expect(listing.relativePaths == ["a.txt", "in.txt"])
        #expect(listing.files.map(\.path) == [root + "/a.txt"], "a link is read at its checked target, once")
        #expect(listing.linksOutside == ["out-folder", "out.txt"])
    }

    @Test func aMissingFolderIsAnError() {
        #expect(throws: ContextError.self) { try DirectoryListing.walk(URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString)")) }
    }

    @Test func theGlobMatchesFilesAndKeysThemFromItsFixedFolder() throws {
        let tree = try Tree()
        try tree.write("logs/a.log")
        try tree.write("logs/b.log")
        try tree.write("logs/.hidden.log")
        try tree.write("logs/sub.log/inner.txt")
        try tree.write(".git/config", "token")
        try tree.link("logs/notes.log", to: "../.git/config")
        let matched = Glob.files(matching: tree.path + "/logs/*.log")
        #expect(matched.files == [tree.path + "/logs/a.log", tree.path + "/logs/b.log"])
        #expect(matched.leftOut == [tree.path + "/logs/notes.log"], "a match that leads into .git is left out")
        #expect(Glob.files(matching: tree.path + "/.git/*").files == [tree.path + "/.git/config"], "naming .git itself reads it")
        #expect(Glob.matches(tree.path + "/logs/*.log").count == 4, "folders match too; files(matching:) drops them")
        #expect(Glob.matches(tree.path + "/nothing/*").isEmpty)
        #expect(Glob.fixedFolder(of: "logs/*/x.txt") == "logs")
        #expect(Glob.fixedFolder(of: "*.txt") == ".")
        #expect(Glob.fixedFolder(of: "/*.txt") == "/")
        #expect(Glob.isPattern("a[0-9].txt") && !Glob.isPattern("plain.txt"))
    }
}
