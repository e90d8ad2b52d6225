import NIOCore

/// Splits the driver's byte stream into newline-terminated messages.
struct LineFramer: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    /// Bytes already searched for a newline, so a long message arriving in pieces is scanned once.
    private var scanned = 0

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        let start = view.startIndex + scanned
        guard start <= view.endIndex,
              let newline = view[start...].firstIndex(of: UInt8(ascii: "\n")) else {
            scanned = view.count
            return .needMoreData
        }
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
