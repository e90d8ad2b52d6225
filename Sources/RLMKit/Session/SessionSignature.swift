import Crypto
import Foundation

/// The `signature.json` of a saved session: an HMAC-SHA256 of each of its files under the user's
/// ``SessionSigningKey``, so that resuming refuses a folder that anyone without the key wrote or changed before
/// anything in it is unpickled.
///
/// Each code covers a random nonce of the session, the file's name and its bytes: a file cannot be swapped for
/// another session's, nor for another file of the same session.
struct SessionSignature: Codable {
    var format = 1
    var algorithm = "HMAC-SHA256"
    /// Hex of 16 random bytes, one per save.
    var nonce: String
    /// File name to hex authentication code.
    var files: [String: String]

    static let fileName = "signature.json"

    /// Signs `files` (name to the exact bytes written).
    static func sign(_ files: [String: Data], with key: SymmetricKey) -> SessionSignature {
        let nonce = SymmetricKey(size: .bits128).withUnsafeBytes { HexEncoding.string($0) }
        var signed = SessionSignature(nonce: nonce, files: [:])
        for (name, content) in files {
            let code = HMAC<SHA256>.authenticationCode(for: message(nonce: nonce, name: name, content: content), using: key)
            signed.files[name] = HexEncoding.string(code)
        }
        return signed
    }

    /// Checks every file in `files` (name to the exact bytes read, which are then the ones used) against its
    /// code; throws naming the first one that is unsigned or differs.
    func verify(_ files: [String: Data], with key: SymmetricKey, named keyName: String, in directory: URL) throws {
        guard format == 1, algorithm == "HMAC-SHA256" else {
            throw Self.refusal(directory, keyName, "its \(Self.fileName) is of a kind this rlm does not know")
        }
        for name in files.keys.sorted() {
            guard let hex = self.files[name], let code = HexEncoding.bytes(hex) else {
                throw Self.refusal(directory, keyName, "its \(Self.fileName) does not cover \(name)")
            }
            let message = Self.message(nonce: nonce, name: name, content: files[name] ?? Data())
            guard HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: message, using: key) else {
                throw Self.refusal(directory, keyName, "\(name) does not match its signature: it was changed after it was saved, or saved with another key")
            }
        }
    }

    /// Reads and checks `signature.json` in `directory` against `files`.
    static func verify(_ files: [String: Data], in directory: URL, with key: SymmetricKey, named keyName: String) throws {
        let url = directory.appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw refusal(directory, keyName, "it has no \(fileName): it was saved by an rlm older than signed sessions, or by someone else")
        }
        let signature: SessionSignature
        do {
            signature = try JSONDecoder().decode(SessionSignature.self, from: data)
        } catch {
            throw refusal(directory, keyName, "its \(fileName) cannot be read as a signature")
        }
        try signature.verify(files, with: key, named: keyName, in: directory)
    }

    private static func message(nonce: String, name: String, content: Data) -> Data {
        var message = Data("rlm-session-v1\u{0}\(nonce)\u{0}\(name)\u{0}".utf8)
        message.append(content)
        return message
    }

    private static func refusal(_ directory: URL, _ keyName: String, _ cause: String) -> RLMSessionError {
        RLMSessionError(message: """
            refusing to resume the session in \(directory.path): \(cause). Resuming unpickles its variables, which \
            can run any code, so only a session signed with \(keyName) is loaded; nothing of this one was. Start a \
            new session instead (leave out --resume), or, if you made this session, resume it with the key you saved \
            it with.
            """)
    }
}
