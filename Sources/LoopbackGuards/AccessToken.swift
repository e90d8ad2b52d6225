import Crypto
import Foundation

/// A secret a server's clients must present, kept only as its SHA-256 digest.
///
/// Comparing digests (swift-crypto compares them in constant time) takes the same time whatever the guess, and the
/// guess's length does not show either, since every digest is 32 bytes.
public struct AccessToken: Sendable {
    private let digest: SHA256Digest

    public init(_ secret: String) { digest = SHA256.hash(data: Data(secret.utf8)) }

    /// True when `candidate` is the secret.
    public func matches(_ candidate: some StringProtocol) -> Bool {
        SHA256.hash(data: Data(candidate.utf8)) == digest
    }

    /// 128 random bits as 32 hex digits, from the system's secure generator (as Jupyter's URL tokens).
    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(format: "%016llx", generator.next() as UInt64) }.joined()
    }
}
