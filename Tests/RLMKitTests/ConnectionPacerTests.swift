@testable import RLMKit
import Testing

/// The schedule `ConnectionPacer` gives requests: a burst of new connections at once, then one per interval;
/// a request that an idle keep-alive connection will carry passes at once.
@Suite struct ConnectionPacerTests {
    let server = "http://127.0.0.1:8080"

    @Test func aBurstPassesThenNewConnectionsWaitTheirTurn() async {
        let pacer = ConnectionPacer(burst: 4, baseInterval: .seconds(10))
        var waits: [Duration] = []
        for _ in 0..<6 { waits.append(pacer.admit(server)) }
        #expect(waits.prefix(4).allSatisfy { $0 == .zero })
        // The fifth waits about one interval, the sixth about two (less the moments the calls themselves took).
        #expect(waits[4] > .seconds(9) && waits[4] <= .seconds(10))
        #expect(waits[5] > .seconds(19) && waits[5] <= .seconds(20))
    }

    @Test func aKeptAliveConnectionCarriesTheNextRequestWithoutWaiting() async {
        let pacer = ConnectionPacer(burst: 1, baseInterval: .seconds(10))
        #expect(pacer.admit(server) == .zero)
        pacer.released(server, keepAlive: true)
        #expect(pacer.admit(server) == .zero)
        // No idle connection is left now: a new one must wait for its turn.
        #expect(pacer.admit(server) > .zero)
    }

    @Test func aClosedConnectionIsNotCountedAsIdle() async {
        let pacer = ConnectionPacer(burst: 1, baseInterval: .seconds(10))
        #expect(pacer.admit(server) == .zero)
        pacer.released(server, keepAlive: false)
        #expect(pacer.admit(server) > .zero)
    }

    @Test func serversArePacedSeparately() async {
        let pacer = ConnectionPacer(burst: 1, baseInterval: .seconds(10))
        #expect(pacer.admit(server) == .zero)
        #expect(pacer.admit("http://127.0.0.1:8081") == .zero)
    }

    @Test func aTimedOutConnectionSlowsTheServersPace() async {
        let pacer = ConnectionPacer(burst: 1, baseInterval: .seconds(1), maxInterval: .seconds(4))
        _ = pacer.admit(server)
        pacer.connectionTimedOut(server)
        pacer.connectionTimedOut(server)
        pacer.connectionTimedOut(server)
        // The interval doubled up to its cap of 4 s (the first admission had reserved 1 s).
        let wait = pacer.admit(server)
        #expect(wait > .milliseconds(900) && wait <= .seconds(1))
        let next = pacer.admit(server)
        #expect(next > .seconds(4) && next <= .seconds(5))
    }

    @Test func aServerNotPacedFromTheStartIsPacedAfterItsFirstConnectTimeout() async {
        let pacer = ConnectionPacer(burst: 2, baseInterval: .seconds(10), maxInterval: .seconds(40))
        for _ in 0..<20 { #expect(pacer.admit(server, pacedFromTheStart: false) == .zero) }
        pacer.connectionTimedOut(server)
        // Paced from now on at the base interval, starting with a burst.
        #expect(pacer.admit(server, pacedFromTheStart: false) == .zero)
        #expect(pacer.admit(server, pacedFromTheStart: false) == .zero)
        let wait = pacer.admit(server, pacedFromTheStart: false)
        #expect(wait > .seconds(9) && wait <= .seconds(10))
        // A second timeout doubles the interval, as for any paced server.
        pacer.connectionTimedOut(server)
        let first = pacer.admit(server, pacedFromTheStart: false)
        let second = pacer.admit(server, pacedFromTheStart: false)
        #expect(second - first > .seconds(19) && second - first <= .seconds(20))
    }

    @Test func aBurstThatTimesOutTogetherSlowsThePaceOnce() async {
        let pacer = ConnectionPacer(burst: 1, baseInterval: .seconds(10), maxInterval: .seconds(80))
        let burstSent = ContinuousClock.now
        for _ in 0..<5 { _ = pacer.admit(server, pacedFromTheStart: false) }
        // All five attempts of the burst time out: the server is paced at the base interval, not slowed 5 times.
        for _ in 0..<5 { pacer.connectionTimedOut(server, attemptStarted: burstSent) }
        let first = pacer.admit(server, pacedFromTheStart: false)
        let second = pacer.admit(server, pacedFromTheStart: false)
        #expect(first == .zero)
        #expect(second > .seconds(9) && second <= .seconds(10))
        // An attempt sent under the new pace that times out slows it down again.
        pacer.connectionTimedOut(server, attemptStarted: .now)
        let third = pacer.admit(server, pacedFromTheStart: false)
        let fourth = pacer.admit(server, pacedFromTheStart: false)
        #expect(fourth - third > .seconds(19) && fourth - third <= .seconds(20))
    }

    @Test func keepAliveFollowsTheHTTPVersionAndConnectionHeader() {
        #expect(ConnectionPacer.keepsAlive(isHTTP10: false, connection: []))
        #expect(!ConnectionPacer.keepsAlive(isHTTP10: false, connection: ["close"]))
        #expect(!ConnectionPacer.keepsAlive(isHTTP10: true, connection: []))
        #expect(ConnectionPacer.keepsAlive(isHTTP10: true, connection: ["Keep-Alive"]))
    }

    @Test func loopbackHostsAreRecognised() {
        #expect(HTTPTransport.isLoopback("http://127.0.0.1:8080/v1"))
        #expect(HTTPTransport.isLoopback("http://localhost:11434/v1"))
        #expect(HTTPTransport.isLoopback("http://[::1]:8000/v1"))
        #expect(!HTTPTransport.isLoopback("https://api.openai.com/v1"))
        #expect(!HTTPTransport.isLoopback("http://192.168.1.20:8080/v1"))
    }

    @Test func pacingKeyIsSchemeHostAndPort() {
        #expect(ConnectionPacer.key(of: "http://127.0.0.1:8080/v1/chat/completions") == "http://127.0.0.1:8080")
        #expect(ConnectionPacer.key(of: "https://api.openai.com/v1") == "https://api.openai.com:443")
    }
}
