import Crypto
import Foundation
import NIOPosix
import RLMKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sessions kept on storage that several `rlm serve` processes share (`--session-dir`): after each answer the
/// process that gave it saves the session there, signed with the key all of them hold (`--session-key-env`), and
/// a process asked to continue a session it does not hold, or holds an older state of, resumes it from there.
///
/// Each session is a folder named by the SHA-256 of its id (the id, a bearer secret, is never written): the
/// REPL's variables and conversation as ``RLMSession/save(to:key:including:)`` writes them, with `server.json`
/// (whose token owns it, what its context is, which save this is) signed together with them, and the context
/// itself, checked against the digest `server.json` names. A session in use is locked with `flock(2)` on
/// `NAME.lock` beside its folder, which names the process using it; the kernel (or the NFS lock manager) lets go
/// of the lock of a process that died, so a crashed replica locks no session for ever.
struct SharedSessionFolder: Sendable {
    let root: URL
    let key: SessionSigningKey
    let instance: InstanceName
    let filesRoot: FilesRoot?

    /// `server.json`: who owns the session and how to rebuild its context, signed with the session's files.
    struct Manifest: Codable, Sendable {
        var format = 1
        /// Hex SHA-256 of the Bearer token that started the session; nil without one.
        var owner: String?
        var context: StoredContext
        /// New on every save: a process whose copy has another generation restores the saved one.
        var generation = ""
        var savedBy = ""
        static let fileName = "server.json"
        enum CodingKeys: String, CodingKey { case format, owner, context, generation, savedBy = "saved_by" }
    }

    /// The session's context: its text or JSON in the file `context`, or the `context_paths` under the files root.
    struct StoredContext: Codable, Sendable {
        var kind: String
        /// ``ResolvedContext/key`` of the content: a context read back must have it.
        var digest: String
        /// Bytes of content, what the session weighs among those a process keeps.
        var bytes: Int
        var paths: [String]?
        static let fileName = "context"
    }

    /// Creates the folder (0700) if it does not exist.
    init(root: URL, key: SessionSigningKey, instance: InstanceName, filesRoot: FilesRoot?) throws {
        do {
            try PrivateFiles.createDirectory(root)
        } catch {
            throw ServerSetupError(message: "cannot create the --session-dir folder \(root.path) (\(error)). Create it, writable by the user every replica runs as.")
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw ServerSetupError(message: "--session-dir \(root.path) is not a folder. Name a folder every replica sees.")
        }
        self.root = root
        self.key = key
        self.instance = instance
        self.filesRoot = filesRoot
    }

    /// The hex SHA-256 of the id, as the session store keys it.
    static func name(_ id: String) -> String { SessionStore.hex(SessionStore.key(id)) }

    func folder(_ id: String) -> URL { root.appendingPathComponent(Self.name(id)) }

    // MARK: Locks

    /// A session's lock, held from its checkout to its check-in.
    final class Lock: Sendable {
        let descriptor: Int32
        init(descriptor: Int32) { self.descriptor = descriptor }

        func release() async {
            let descriptor = descriptor
            _ = try? await NIOThreadPool.singleton.runIfActive {
                _ = flock(descriptor, LOCK_UN)
                _ = close(descriptor)
            }
        }
    }

    /// Takes the lock of session `id`; 409 naming the holder while another process (or request) uses it.
    func lock(_ id: String) async throws(APIError) -> Lock {
        let path = root.appendingPathComponent(Self.name(id) + ".lock").path
        let owner = instance.value
        let outcome: Result<Lock, APIError>
        do {
            outcome = try await NIOThreadPool.singleton.runIfActive { Self.takeLock(path, owner: owner) }
        } catch {
            throw .sessionStorage("the lock of the session could not be taken (\(error)).")
        }
        return try outcome.get()
    }

    private static func takeLock(_ path: String, owner: String) -> Result<Lock, APIError> {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            return .failure(.sessionStorage("the lock file of the session cannot be opened (\(String(cString: strerror(errno)))). Check that --session-dir is writable by every replica."))
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let cause = errno
            var bytes = [UInt8](repeating: 0, count: 256)
            let count = pread(descriptor, &bytes, bytes.count, 0)
            close(descriptor)
            guard cause == EWOULDBLOCK else {
                return .failure(.sessionStorage("the lock of the session cannot be taken (\(String(cString: strerror(cause)))). Check that the storage under --session-dir supports flock."))
            }
            let holder = String(decoding: bytes.prefix(max(0, count)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return .failure(.sessionBusy(holder: holder.isEmpty ? nil : holder))
        }
        let line = Array((owner + "\n").utf8)
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, line, line.count, 0)
        return .success(Lock(descriptor: descriptor))
    }

    // MARK: Saving and resuming

    /// True when a session is saved under `id`.
    func isSaved(_ id: String) async -> Bool {
        let file = folder(id).appendingPathComponent(Manifest.fileName)
        return (try? await NIOThreadPool.singleton.runIfActive { FileManager.default.fileExists(atPath: file.path) }) ?? false
    }

    /// The signed manifest of session `id` and when it was saved; nil when no session is saved under that id.
    func manifest(_ id: String) async throws -> (Manifest, saved: Date)? {
        let file = folder(id).appendingPathComponent(Manifest.fileName)
        let saved = try await NIOThreadPool.singleton.runIfActive {
            (try? FileManager.default.attributesOfItem(atPath: file.path))?[.modificationDate] as? Date
        }
        guard let saved else { return nil }
        let files = try await RLMSession.readSigned([Manifest.fileName], from: folder(id), key: key)
        return (try JSONDecoder().decode(Manifest.self, from: files[Manifest.fileName] ?? Data()), saved)
    }

    /// A new session over the saved context with the saved variables and conversation restored; every file is
    /// checked against the signature before anything of it reaches the REPL.
    func resume(_ id: String, manifest: Manifest, load: @Sendable (RLMContext) async throws -> RLMSession) async throws -> RLMSession {
        let context = try await storedContext(id, manifest.context)
        let session = try await load(context.context)
        do {
            _ = try await session.restore(from: folder(id), key: key)
        } catch {
            await session.close()
            throw error
        }
        return session
    }

    /// Saves `session` as the state of `id` under a new generation, which it returns.
    func save(_ session: RLMSession, id: String, manifest: Manifest) async throws -> Manifest {
        var manifest = manifest
        manifest.generation = UUID().uuidString
        manifest.savedBy = instance.value
        let encoded = try JSONEncoder().encode(manifest)
        _ = try await session.save(to: folder(id), key: key, including: [Manifest.fileName: encoded])
        return manifest
    }

    /// Writes the context of a new session (once: it never changes); `paths` when the request named files under
    /// the files root, which every replica must then see too.
    func store(_ context: ResolvedContext, paths: [String]?, id: String) async throws -> StoredContext {
        if let paths { return StoredContext(kind: "paths", digest: context.key, bytes: context.bytes, paths: paths) }
        let kind: String
        let data: Data
        switch context.context {
        case .text(let text): (kind, data) = ("text", Data(text.utf8))
        case .json(let json): (kind, data) = ("json", json)
        default: throw SharedSessionError(message: "this kind of context cannot be saved for other replicas")
        }
        let file = folder(id).appendingPathComponent(StoredContext.fileName)
        try await NIOThreadPool.singleton.runIfActive { try PrivateFiles.write(data, to: file) }
        return StoredContext(kind: kind, digest: context.key, bytes: context.bytes, paths: nil)
    }

    private func storedContext(_ id: String, _ stored: StoredContext) async throws -> ResolvedContext {
        let (file, filesRoot) = (folder(id).appendingPathComponent(StoredContext.fileName), filesRoot)
        let resolved = try await NIOThreadPool.singleton.runIfActive { () throws -> ResolvedContext in
            if stored.kind == "paths" { return try ResolvedContext.paths(stored.paths ?? [], filesRoot: filesRoot) }
            guard let data = FileManager.default.contents(atPath: file.path) else {
                throw SharedSessionError(message: "its context file is missing")
            }
            return stored.kind == "json" ? ResolvedContext.json(data) : ResolvedContext.text(String(decoding: data, as: UTF8.self))
        }
        guard resolved.key == stored.digest else {
            throw SharedSessionError(message: "its context is not the one it was started over (the file changed, or the files under --files-root differ between replicas)")
        }
        return resolved
    }

    // MARK: Expiry

    /// Removes the sessions saved longer than `ttl` ago that no process is using, with their locks.
    func removeExpired(ttl: Duration) async {
        let (root, limit) = (root, Date().addingTimeInterval(-ttl.seconds))
        _ = try? await NIOThreadPool.singleton.runIfActive {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
            for name in names where name.count == 64 && name.allSatisfy(\.isHexDigit) {
                let folder = root.appendingPathComponent(name)
                let saved = (try? FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(Manifest.fileName).path))?[.modificationDate] as? Date
                guard (saved ?? .distantPast) < limit, case .success(let lock) = Self.takeLock(folder.path + ".lock", owner: "expiring") else { continue }
                try? FileManager.default.removeItem(at: folder)
                unlink(folder.path + ".lock")
                _ = flock(lock.descriptor, LOCK_UN)
                close(lock.descriptor)
            }
        }
    }
}

/// A saved session that cannot be resumed, and why.
struct SharedSessionError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

extension APIError {
    static func sessionStorage(_ cause: String) -> APIError {
        APIError(status: .internalServerError, message: "the shared session folder failed: \(cause)",
                 type: "server_error", code: "session_storage_failed", param: "session")
    }

    static func sessionUnresumable(_ cause: String) -> APIError {
        APIError(status: .internalServerError,
                 message: "the saved session cannot be resumed: \(cause). Nothing of it was loaded. Start a new conversation (send the request without session, with its context); replicas must share --session-key-env and --files-root.",
                 type: "server_error", code: "session_unresumable", param: "session")
    }
}
