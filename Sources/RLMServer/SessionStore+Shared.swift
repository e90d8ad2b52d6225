import Crypto
import Foundation
import Logging
import RLMKit

/// Sessions shared with other replicas through `--session-dir`: locked there while a request runs in them, saved
/// there after each answer, resumed from there by a replica that does not hold the latest state.
extension SessionStore {
    /// Locks session `id` on the shared folder for one request and returns it as last saved: this process's own
    /// copy when it made that save, else the saved one, restored (after its signature is checked) into a new REPL.
    func checkOutShared(_ id: String, owner: SHA256Digest?, folder: SharedSessionFolder,
                        load: @escaping @Sendable (RLMContext) async throws -> RLMSession) async throws(APIError) -> RLMSession {
        let key = Self.key(id)
        guard entries[key]?.busy != true, !pending.contains(key) else { throw .sessionBusy() }
        pending.insert(key)
        defer { pending.remove(key) }
        // An id nobody saved gets its 404 without a lock file: made-up ids leave nothing on the shared storage.
        let saved = await folder.isSaved(id)
        guard saved || entries[key] != nil else { throw .sessionNotFound(ttl: limits.ttl) }
        let lock = try await folder.lock(id)
        do {
            let session = try await latest(id, owner: owner, folder: folder, load: load)
            entries[key]?.busy = true
            locks[key] = lock
            return session
        } catch {
            await lock.release()
            throw error
        }
    }

    private func latest(_ id: String, owner: SHA256Digest?, folder: SharedSessionFolder,
                        load: @escaping @Sendable (RLMContext) async throws -> RLMSession) async throws(APIError) -> RLMSession {
        let key = Self.key(id)
        let found: (SharedSessionFolder.Manifest, saved: Date)?
        do {
            found = try await folder.manifest(id)
        } catch {
            Self.logger.warning("rlm serve: the saved session \(SharedSessionFolder.name(id).prefix(12))… was refused: \(error)")
            throw .sessionUnresumable("its files failed the signature check or could not be read")
        }
        guard let (manifest, saved) = found else {
            // Never saved (its save failed): only this process's own copy, if it has one.
            guard let entry = entries[key], entry.owner == owner else { throw .sessionNotFound(ttl: limits.ttl) }
            return entry.session
        }
        // The same answer for an unknown, foreign or expired id, so that none can be probed.
        guard manifest.owner == owner.map(Self.hex), Date().timeIntervalSince(saved) < limits.ttl.seconds else {
            throw .sessionNotFound(ttl: limits.ttl)
        }
        if let entry = entries[key], entry.owner == owner, entry.saved?.generation == manifest.generation { return entry.session }
        // Another replica answered in it since this one did: this copy is stale.
        if entries[key] != nil { end([key]) }
        let session: RLMSession
        do {
            session = try await folder.resume(id, manifest: manifest, load: load)
        } catch let error as SharedSessionError {
            throw .sessionUnresumable(error.message)
        } catch {
            Self.logger.warning("rlm serve: the saved session \(SharedSessionFolder.name(id).prefix(12))… could not be resumed: \(error)")
            throw .sessionUnresumable("its files failed the signature check or could not be restored")
        }
        guard makeRoom(for: manifest.context.bytes) else {
            closeLater([session])
            throw .sessionsFull()
        }
        entries[key] = Entry(session: session, owner: owner, bytes: manifest.context.bytes, lastUsed: .now, saved: manifest)
        publish()
        startSweeping()
        return session
    }

    /// Saves the checked-out session `id` to the shared folder and lets go of its lock. A save that fails leaves
    /// the previous one, and this process's copy stays the one it uses (the failure is logged).
    func saveShared(_ id: String, session: RLMSession) async {
        let key = Self.key(id)
        guard let shared, let lock = locks.removeValue(forKey: key) else { return }
        if let manifest = entries[key]?.saved {
            do {
                entries[key]?.saved = try await shared.save(session, id: id, manifest: manifest)
            } catch {
                Self.logger.warning("rlm serve: session \(SharedSessionFolder.name(id).prefix(12))… could not be saved to --session-dir (\(error)); other replicas resume its previous answer")
            }
        }
        await lock.release()
    }

    /// Saves a new conversation's session to the shared folder with its context, before its id goes out, so
    /// that any replica can continue it; does nothing without a shared folder.
    func share(_ id: String, context: ResolvedContext, paths: [String]?) async {
        let key = Self.key(id)
        guard let shared, let entry = entries[key] else { return }
        do {
            let lock = try await shared.lock(id)
            do {
                let stored = try await shared.store(context, paths: paths, id: id)
                let manifest = SharedSessionFolder.Manifest(owner: entry.owner.map(Self.hex), context: stored)
                entries[key]?.saved = try await shared.save(entry.session, id: id, manifest: manifest)
            } catch {
                Self.logger.warning("rlm serve: session \(SharedSessionFolder.name(id).prefix(12))… could not be saved to --session-dir (\(error)); only this replica can continue it")
            }
            await lock.release()
        } catch {
            Self.logger.warning("rlm serve: session \(SharedSessionFolder.name(id).prefix(12))… could not be locked in --session-dir (\(error)); only this replica can continue it")
        }
    }

    static let logger = Logger(label: "rlm.serve")

    static func hex(_ digest: SHA256Digest) -> String { digest.map { String(format: "%02x", $0) }.joined() }
}

extension APIError {
    static func sessionsFull() -> APIError {
        APIError(status: .serviceUnavailable,
                 message: "this replica holds as many sessions as it may, all busy, so it cannot resume this one now. Retry (Retry-After), or start the server with a larger --cache-mb.",
                 type: "server_error", code: "sessions_full", param: "session", headers: [.retryAfter: "2"])
    }
}
