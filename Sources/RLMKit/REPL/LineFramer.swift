import NIOCore

/// Splits the driver's byte stream into newline-terminated messages, and gives up on a peer that sends more
/// than `maxLineBytes` without a newline (it throws ``DriverProtocolViolation``), so that no line is held whole
/// however long it is.
struct LineFramer: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    /// Bytes already searched for a newline, so a long message arriving in pieces is scanned once.
    private var scanned = 0
    let maxLineBytes: Int

    init(maxLineBytes: Int = DriverChannelLimits.maxLineBytes) {
        self.maxLineBytes = maxLineBytes
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        let start = view.startIndex + scanned
        guard start <= view.endIndex,
              let newline = view[start...].firstIndex(of: UInt8(ascii: "\n")) else {
            scanned = view.count
            if scanned > maxLineBytes { throw DriverProtocolViolation.oversizedLine() }
            return .needMoreData
        }
        if newline - view.startIndex > maxLineBytes { throw DriverProtocolViolation.oversizedLine() }
        let line = buffer.readSlice(length: newline - view.startIndex)!
        buffer.moveReaderIndex(forwardBy: 1)
        scanned = 0
        context.fireChannelRead(wrapInboundOut(line))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
