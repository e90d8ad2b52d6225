import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The project config files the user reviewed and trusted, each by absolute path and the SHA-256 of its
/// content: a file that changes after `rlm trust` is untrusted again.
///
/// Kept in `$XDG_CONFIG_HOME/rlm/trusted.json` (else `~/.config/rlm/trusted.json`), readable by the user only.
struct TrustStore {
    struct Entry: Codable, Equatable {
        var path: String
        var sha256: String
        /// When it was trusted (ISO 8601), to tell the user how old a trust is.
        var trustedAt: String

        enum CodingKeys: String, CodingKey {
            case path, sha256
            case trustedAt = "trusted_at"
        }
    }

    /// How a file stands against the store.
    enum Standing: Equatable {
        case trusted
        /// Trusted once, with other content.
        case changedSince(String)
        case unknown
    }

    private struct Document: Codable {
        var version = 1
        var files: [Entry]
    }

    var url: URL
    var entries: [Entry] = []

    static func location(environment: [String: String]) -> URL {
        let home = environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path
        let folder = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.config"
        return URL(fileURLWithPath: folder).appendingPathComponent("rlm/trusted.json")
    }

    /// The store; empty when the file does not exist yet.
    static func load(environment: [String: String]) throws -> TrustStore {
        let url = location(environment: environment)
        guard FileManager.default.fileExists(atPath: url.path) else { return TrustStore(url: url) }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw CLIFailure.configuration("cannot read \(url.path), the list of trusted config files. Check its permissions.")
        }
        do {
            return TrustStore(url: url, entries: try JSONDecoder().decode(Document.self, from: data).files)
        } catch {
            throw CLIFailure.configuration("\(url.path), the list of trusted config files, is not valid JSON (\(error.localizedDescription)). Fix it, or delete it and run `rlm trust` again for the files you trust.")
        }
    }

    /// The canonical absolute path of `path`: the form the store keeps.
    static func canonicalPath(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }

    func standing(ofPath path: String, sha256: String) -> Standing {
        let matches = entries.filter { $0.path == path }
        if matches.contains(where: { $0.sha256 == sha256 }) { return .trusted }
        return matches.last.map { .changedSince($0.trustedAt) } ?? .unknown
    }

    /// Records `path` with this content as trusted, replacing an older record of the same path.
    mutating func trust(path: String, sha256: String, at date: Date = Date()) {
        entries.removeAll { $0.path == path }
        entries.append(Entry(path: path, sha256: sha256, trustedAt: ISO8601DateFormatter().string(from: date)))
    }

    /// Forgets `path`; false when it was not trusted.
    mutating func revoke(path: String) -> Bool {
        let before = entries.count
        entries.removeAll { $0.path == path }
        return entries.count != before
    }

    /// Writes the store atomically: a private temporary file (0600) renamed over the old one.
    func save() throws {
        let folder = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw CLIFailure.configuration("cannot create \(folder.path) for the list of trusted config files: \(error.localizedDescription). Check the permissions of XDG_CONFIG_HOME / ~/.config.")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(Document(files: entries))
        let temporary = folder.appendingPathComponent(".trusted.json.\(getpid()).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw CLIFailure.configuration("cannot write \(temporary.path). Check the permissions of \(folder.path).")
        }
        // createFile's mode is filtered by the umask; make sure no one else can read the list.
        chmod(temporary.path, 0o600)
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw CLIFailure.configuration("cannot write \(url.path): \(reason). Check the permissions of \(folder.path).")
        }
    }
}
