import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The secret that signs saved sessions (HMAC-SHA256), so that resuming loads only a folder saved with it.
///
/// Resuming a session unpickles its variables, and unpickling runs whatever code the pickle names: a session
/// folder from elsewhere must not be loaded. ``userDefault`` is a key of this user's own, made on first use;
/// ``init(bytes:)`` takes a key shared by whoever should be able to resume each other's sessions.
public struct SessionSigningKey: Sendable {
    private enum Source: Sendable {
        case userDefault
        case file(URL)
        case bytes(Data)
    }

    private let source: Source

    /// The user's own key: the file ``defaultFile(environment:)`` names, created (0600, 32 random bytes) on
    /// first use.
    public static var userDefault: SessionSigningKey { SessionSigningKey(source: .userDefault) }

    /// The key in `file`, created (0600, 32 random bytes) when it does not exist.
    public static func file(_ file: URL) -> SessionSigningKey { SessionSigningKey(source: .file(file)) }

    /// A key given as raw bytes (for example one shared through an environment variable); at least 16 bytes.
    public init(bytes: some Sequence<UInt8>) throws {
        let data = Data(bytes)
        guard data.count >= 16 else {
            throw RLMSessionError(message: "a session signing key needs at least 16 bytes; this one has \(data.count). Give a longer key.")
        }
        source = .bytes(data)
    }

    private init(source: Source) {
        self.source = source
    }

    /// Where the user's own key lives: `$XDG_CONFIG_HOME/rlm/session-key`, else `$HOME/.config/rlm/session-key`.
    public static func defaultFile(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        let config = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.config"
        return URL(fileURLWithPath: config).appendingPathComponent("rlm").appendingPathComponent("session-key")
    }

    /// The key as a message names it.
    var summary: String {
        switch source {
        case .bytes: "the key given"
        case .file(let url): "your key in \(url.path)"
        case .userDefault: "your key in \(Self.defaultFile().path)"
        }
    }

    /// The key itself, reading or creating its file. Blocking: call it off the cooperative threads.
    func load() throws -> SymmetricKey {
        switch source {
        case .bytes(let data): return SymmetricKey(data: data)
        case .file(let url): return try Self.loadOrCreate(url)
        case .userDefault: return try Self.loadOrCreate(Self.defaultFile())
        }
    }

    // MARK: - The key file

    private static func loadOrCreate(_ file: URL) throws -> SymmetricKey {
        if let key = try read(file) { return key }
        try create(file)
        guard let key = try read(file) else {
            throw RLMSessionError(message: "the session key \(file.path) could not be created. Check that \(file.deletingLastPathComponent().path) is writable.")
        }
        return key
    }

    /// The key in `file`, or nil when there is none. A key others can read, or that is not ours, is refused:
    /// whoever reads it can sign a session that runs code when this user resumes it.
    private static func read(_ file: URL) throws -> SymmetricKey? {
        let descriptor = open(file.path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw RLMSessionError(message: "the session key \(file.path) cannot be read (\(String(cString: strerror(errno)))). Fix its permissions (chmod 600), or remove it to make a new one; sessions saved with the old key can then no longer be resumed.")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw RLMSessionError(message: "the session key \(file.path) is not a regular file. Remove it to make a new one.")
        }
        guard info.st_uid == geteuid() else {
            throw RLMSessionError(message: "the session key \(file.path) belongs to another user (uid \(info.st_uid)). Remove it to make a new one of your own.")
        }
        guard info.st_mode & 0o077 == 0 else {
            let mode = String(info.st_mode & 0o777, radix: 8)
            throw RLMSessionError(message: "the session key \(file.path) can be read by other users (mode \(mode)), who could sign sessions that run code when you resume them. Run chmod 600 \(file.path), or remove it to make a new one.")
        }
        let text = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.count == 64, let bytes = HexEncoding.bytes(text) else {
            throw RLMSessionError(message: "the session key \(file.path) is not 64 hexadecimal digits. Remove it to make a new one; sessions saved with it can then no longer be resumed.")
        }
        return SymmetricKey(data: bytes)
    }

    /// Writes 32 random bytes as hex to a private temporary file and links it into place, so that two processes
    /// creating the key at once end up with the same one and nobody reads a half-written key.
    private static func create(_ file: URL) throws {
        let folder = file.deletingLastPathComponent()
        do {
            try PrivateFiles.createDirectory(folder)
        } catch {
            throw RLMSessionError(message: "cannot create the folder \(folder.path) for the session key (\(error.localizedDescription)). Create it, or set XDG_CONFIG_HOME to a writable folder.")
        }
        let key = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        let text = HexEncoding.string(key) + "\n"
        let temporary = folder.appendingPathComponent(".session-key-\(UUID().uuidString.prefix(8))")
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw RLMSessionError(message: "cannot write the session key in \(folder.path) (\(String(cString: strerror(errno)))). Make the folder writable, or set XDG_CONFIG_HOME to a writable folder.")
        }
        defer { unlink(temporary.path) }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        try handle.write(contentsOf: Data(text.utf8))
        try handle.synchronize()
        // link(2) fails when the key exists: another process made it first, and its key is the one read.
        if link(temporary.path, file.path) != 0, errno != EEXIST {
            throw RLMSessionError(message: "cannot create the session key \(file.path) (\(String(cString: strerror(errno)))). Make \(folder.path) writable, or set XDG_CONFIG_HOME to a writable folder.")
        }
    }
}
