import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import RLMKit

/// The REPL's socket takes exactly one peer, the driver, and never crashes the host on a peer it did not take:
/// one that connects while the interpreter dies, or a second one from code in the REPL.
@Suite(.timeLimit(.minutes(1))) struct DriverListenerTests {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-listener-\(UUID().uuidString.prefix(8)).sock").path

    /// Connects a client and returns its channel (its closeFuture completes when the listener drops it).
    func connect() async throws -> any Channel {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(unixDomainSocketPath: path).get()
    }

    @Test func theFirstPeerIsHandedOverAndASecondIsRefused() async throws {
        defer { unlink(path) }
        let listener = try await DriverListener.bind(path: path)
        let first = try await connect()
        let connection = try #require(await listener.accept())
        // Connected once the first is handed over: two peers set up at once on different event loops may be
        // handed over in either order.
        let second = try await connect()
        // The second peer is closed by the listener, not handed over.
        try await second.closeFuture.get()
        #expect(first.isActive)
        listener.close()
        try await connection.executeThenClose { _, outbound in
            try await outbound.write(ByteBuffer(string: "hello\n"))
        }
        try await first.closeFuture.get()
    }

    @Test func aPeerNobodyTookIsClosedWhenTheListenerCloses() async throws {
        defer { unlink(path) }
        let listener = try await DriverListener.bind(path: path)
        let peer = try await connect()
        // Give the listener time to set the connection up, then end the incarnation without taking it.
        try await Task.sleep(for: .milliseconds(200))
        listener.close()
        try await peer.closeFuture.get()
        #expect(await listener.accept() == nil)
    }

    @Test func peersRacingTheCloseNeverCrashTheHost() async throws {
        // The interpreter dies the moment it connects: the connection is still being set up while the
        // incarnation ends. Before, SwiftNIO trapped on the async child channel nobody took over.
        for round in 0..<20 {
            let path = self.path + "-\(round)"
            defer { unlink(path) }
            let listener = try await DriverListener.bind(path: path)
            let peers = try await withThrowingTaskGroup(of: (any Channel)?.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                            .connect(unixDomainSocketPath: path).get()
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .microseconds(Int.random(in: 0...400)))
                    listener.close()
                    return nil
                }
                return try await group.reduce(into: [any Channel]()) { if let peer = $1 { $0.append(peer) } }
            }
            for peer in peers { try await peer.closeFuture.get() }
            #expect(await listener.accept() == nil)
        }
    }
}
