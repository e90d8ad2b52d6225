import Foundation
import Testing
@testable import RLMKit
import RLMTesting

/// Saved sessions are signed with a ``SessionSigningKey`` and checked before anything is unpickled.
@Suite(.serialized) struct SessionSigningTests {
    final class Folder {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-signing-\(UUID().uuidString.prefix(8))")
        deinit { try? FileManager.default.removeItem(at: url) }
    }

    func session(_ code: String) async throws -> RLMSession {
        let rlm = RLM(rootModel: ScriptedModel(replies: [repl(code)]), limits: RLMLimits(maxIterations: 3),
                      repl: REPLConfiguration(cellTimeout: .seconds(60), interruptGrace: .seconds(1)))
        return try await RLMSession(rlm: rlm, context: .text("hello"))
    }

    @Test func aKeyShorterThan16BytesIsRefused() {
        #expect(throws: RLMSessionError.self) { try SessionSigningKey(bytes: [UInt8](repeating: 1, count: 15)) }
        #expect(throws: Never.self) { try SessionSigningKey(bytes: [UInt8](repeating: 1, count: 16)) }
    }

    @Test func aSessionResumesOnlyUnderTheKeyItWasSavedWith() async throws {
        let folder = Folder()
        let mine = try SessionSigningKey(bytes: [UInt8](repeating: 7, count: 32))
        let theirs = try SessionSigningKey(bytes: [UInt8](repeating: 8, count: 32))
        let first = try await session("kept = 41\nFINAL('ok')")
        _ = try await first.ask("Set")
        _ = try await first.save(to: folder.url, key: mine)
        await first.close()

        let second = try await session("FINAL(str(kept + 1))")
        let refusal = await #expect(throws: RLMSessionError.self) { _ = try await second.restore(from: folder.url, key: theirs) }
        #expect(refusal?.message.contains("does not match its signature") == true, "\(refusal?.message ?? "")")
        // Nothing was loaded: the variable is not there.
        let probe = try await second.host.repl.execute("print('kept' in globals())")
        #expect(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "False")
        let report = try await second.restore(from: folder.url, key: mine)
        #expect(report.variables == ["kept"])
        #expect(try await second.ask("Next").answer == "42")
        await second.close()
    }

    @Test func theKeyFileIsMadeOnceAndPrivately() throws {
        let folder = Folder()
        let file = folder.url.appendingPathComponent("config/rlm/session-key")
        let first = try SessionSigningKey.file(file).load()
        let again = try SessionSigningKey.file(file).load()
        #expect(first == again)
        let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        #expect((attributes[.posixPermissions] as? Int ?? 0) & 0o777 == 0o600)
        let folderAttributes = try FileManager.default.attributesOfItem(atPath: file.deletingLastPathComponent().path)
        #expect((folderAttributes[.posixPermissions] as? Int ?? 0) & 0o777 == 0o700)
        #expect(SessionSigningKey.defaultFile(environment: ["XDG_CONFIG_HOME": "/x", "HOME": "/h"]).path == "/x/rlm/session-key")
        #expect(SessionSigningKey.defaultFile(environment: ["HOME": "/h"]).path == "/h/.config/rlm/session-key")
    }
}
