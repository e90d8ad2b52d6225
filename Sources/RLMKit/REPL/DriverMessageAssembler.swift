import Foundation
import NIOCore

/// How much the host takes from the driver: the bounds of the channel from the REPL.
///
/// A message longer than ``partBytes`` travels as `part` lines of base64 (each under ``maxLineBytes``), which the
/// host joins up to ``maxMessageBytes``; so the host never holds an unterminated line longer than
/// ``maxLineBytes`` nor a message longer than ``maxMessageBytes``, whatever the code in the REPL writes.
enum DriverChannelLimits {
    /// The longest line the host reads before it gives up on the peer.
    static let maxLineBytes = 2 << 20
    /// Bytes of a message carried by one `part` line (its base64 is 4/3 of this, under ``maxLineBytes``).
    static let partBytes = 1 << 20
    /// The largest message (a submitted answer, a sub-call's prompts) the host accepts.
    static let maxMessageBytes = 64 << 20
    /// Sub-call and tool requests the host runs at once for one interpreter; more is a flood.
    static let maxOutstandingRequests = 1_024
    /// Bytes of prompts and contexts waiting in those requests at once; more is a flood.
    static let maxOutstandingRequestBytes = 256 << 20
}

/// The driver broke the channel protocol: the host treats the peer as hostile and kills its interpreter.
struct DriverProtocolViolation: Error, Sendable {
    var reason: String

    static func oversizedLine() -> Self {
        .init(reason: "a line of more than \(DriverChannelLimits.maxLineBytes >> 20) MiB without a newline")
    }
}

/// Turns the driver's lines into messages, joining `part` lines into the message they carry.
struct DriverMessageAssembler {
    private var parts: Data?

    /// The message a line completes, with its size in bytes; nil while parts of a message are still coming.
    mutating func message(from line: ByteBuffer) throws(DriverProtocolViolation) -> (DriverMessage, bytes: Int)? {
        let message = try Self.decode(Data(line.readableBytesView))
        guard message.type == "part" else {
            if parts != nil { throw .init(reason: "a message inside a multi-part message") }
            return (message, line.readableBytes)
        }
        guard let text = message.data, let chunk = Data(base64Encoded: text) else {
            throw .init(reason: "a message part without base64 data")
        }
        var joined = parts ?? Data()
        parts = nil  // so that appending does not copy the whole message each time
        guard joined.count + chunk.count <= DriverChannelLimits.maxMessageBytes else {
            throw .init(reason: "a message of more than \(DriverChannelLimits.maxMessageBytes >> 20) MiB")
        }
        joined.append(chunk)
        guard message.last == true else {
            parts = joined
            return nil
        }
        parts = nil
        let whole = try Self.decode(joined)
        if whole.type == "part" { throw .init(reason: "a message part inside a message part") }
        return (whole, joined.count)
    }

    private static func decode(_ data: Data) throws(DriverProtocolViolation) -> DriverMessage {
        do {
            return try JSONDecoder().decode(DriverMessage.self, from: data)
        } catch {
            let text = String(decoding: data.prefix(120), as: UTF8.self)
            throw .init(reason: "a message that is not valid protocol JSON (\(OutputTruncation.clip(text, limit: 100)))")
        }
    }
}
