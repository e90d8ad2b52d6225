import Crypto
import Foundation

/// The SHA-256 that recognises a trusted project config file by its exact content.
enum ContentDigest {
    /// The digest of `data` as 64 lowercase hexadecimal digits.
    static func sha256Hex(of data: Data) -> String {
        Crypto.SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}
