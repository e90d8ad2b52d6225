import NIOCore
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The listening socket of one interpreter incarnation; it hands over the first connection made to it, the
/// driver's.
///
/// A plain server channel with a child initializer, not an `NIOAsyncChannel` server: SwiftNIO traps when an async
/// child channel is dropped before anyone took it over, and an `NIOAsyncChannel` server drops the children it
/// accepts while closing. That crashed the host when an interpreter died the moment it connected, and would let
/// code in the REPL crash it by connecting a second time. Here only the first peer becomes an `NIOAsyncChannel`,
/// any later one is refused at once, and a peer nobody took when the listener closes is closed properly.
///
/// The listener stays open until the incarnation ends: SwiftNIO closes a child whose server closed while the
/// child was being set up, so closing it as soon as the driver's connection is handed over would cut that very
/// connection now and then.
final class DriverListener: Sendable {
    typealias Connection = NIOAsyncChannel<ByteBuffer, ByteBuffer>

    private struct State {
        var claimed = false
        var closed = false
        var peer: Connection?
        var server: (any Channel)?
        /// The process id of the peer that was handed over, as this process sees it (Linux).
        var peerProcessID: Int32?
    }
    private let state = Mutex(State())
    /// The caller of ``accept()``, waiting for the driver's connection (nil: the listener closed first).
    private let waiters = WaiterQueue<Connection?, Void>()

    private struct Refused: Error {}

    private init() {}

    /// Listens on the Unix socket at `path` (replacing a stale socket file).
    static func bind(path: String) async throws -> DriverListener {
        let listener = DriverListener()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { child in
                Self.peerProcessID(of: child).flatMapThrowing { pid in
                    // A failed initializer makes NIO close the child: a second peer, or one after the end.
                    guard listener.claim(peer: pid) else { throw Refused() }
                    try child.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFramer()))
                    listener.deliver(try Connection(wrappingChannelSynchronously: child))
                }
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        let closed = listener.state.withLock { state -> Bool in
            state.server = server
            return state.closed
        }
        if closed { server.close(promise: nil) }
        return listener
    }

    /// The driver's connection once it is made; nil if the listener was closed first. Cancelling the caller
    /// closes the listener.
    func accept() async -> Connection? {
        await withTaskCancellationHandler {
            let ready = { () -> Connection?? in
                self.state.withLock { state in
                    if let peer = state.peer {
                        state.peer = nil
                        return .some(peer)
                    }
                    return state.closed ? .some(nil) : nil
                }
            }
            return (try? await waiters.wait(unlessReady: ready)) ?? nil
        } onCancel: {
            close()
        }
    }

    /// Stops listening. A connection made but not taken is closed; one already taken is left to its owner.
    func close() {
        let (peer, server) = state.withLock { state in
            state.closed = true
            defer { state.peer = nil }
            return (state.peer, state.server)
        }
        waiters.resumeAll(with: nil)
        server?.close(promise: nil)
        if let peer { Self.discard(peer) }
    }

    /// Closes a connection nobody will take. Consuming it finishes its writer, which SwiftNIO insists on.
    private static func discard(_ connection: Connection) {
        Task { try? await connection.executeThenClose { _, _ in } }
    }

    private func claim(peer: Int32?) -> Bool {
        state.withLock { state in
            guard !state.claimed, !state.closed else { return false }
            state.claimed = true
            state.peerProcessID = peer
            return true
        }
    }

    /// The process id of the peer handed over by ``accept()``, from `SO_PEERCRED`: the process that connected,
    /// numbered as this process sees it even when the peer lives in a PID namespace of its own. Nil before the
    /// hand-over, and on systems without `SO_PEERCRED`.
    var peerProcessID: Int32? { state.withLock { $0.peerProcessID } }

    /// `struct ucred`, as `SO_PEERCRED` fills it.
    private struct PeerCredentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    private static func peerProcessID(of channel: any Channel) -> EventLoopFuture<Int32?> {
        #if os(Linux)
        guard let provider = channel as? any SocketOptionProvider else { return channel.eventLoop.makeSucceededFuture(nil) }
        return provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
            .map { (credentials: PeerCredentials) -> Int32? in credentials.pid > 0 ? credentials.pid : nil }
            .recover { _ in nil }
        #else
        return channel.eventLoop.makeSucceededFuture(nil)
        #endif
    }

    private func deliver(_ connection: Connection) {
        var closedAlready = false
        waiters.resumeFirst(with: connection) { connection in
            state.withLock { state in
                if state.closed { closedAlready = true } else { state.peer = connection }
            }
        }
        if closedAlready { Self.discard(connection) }
    }
}
