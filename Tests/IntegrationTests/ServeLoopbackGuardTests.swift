import Foundation
import ModelSimulator
import Testing

/// `rlm serve` answers only the loopback: what a web page can make a browser send (a rebound Host, a cross-site
/// POST) is refused before any run, and a token, when there is one, is checked in any letter case of its scheme.
/// Every request goes over a raw socket with the Host and Origin an attacker would send.
@Suite(.timeLimit(.minutes(3))) struct ServeLoopbackGuardTests {
    static let answerLength = replBlock("FINAL(f'{len(context)} chars')")
    static let chatBody = #"{"model":"rlm","messages":[{"role":"user","content":"q"}],"context":"abc"}"#

    /// Runs `rlm serve ARGS` in front of a simulated model that answers every question with the context's length.
    static func withServer<T: Sendable>(_ arguments: [String], environment: [String: String] = [:],
                                        _ body: @escaping @Sendable (Serve.Handle, ModelSimulator) async throws -> T) async throws -> (T, CLI.Run) {
        let model = try await ModelSimulator.start(models: ["root"]) { _ in SimulatedReply(text: Self.answerLength) }
        defer { Task { await model.shutdown() } }
        let result = try await Serve.with(["--no-log", "--sandbox", "basic"] + arguments,
                                          environment: environment.merging(["RLM_BASE_URL": model.baseURL, "RLM_MODEL": "root"]) { $1 }) { handle in
            try await body(handle, model)
        }
        return (result.value, result.run)
    }

    @Test func foreignHostIsRefusedBeforeAnyRun() async throws {
        let (replies, run) = try await Self.withServer([]) { handle, model in
            let port = handle.port
            let get = try await RawHTTP.exchange(port: port, RawHTTP.request("GET", "/v1/models", host: "evil.example:\(port)"))
            let post = try await RawHTTP.exchange(port: port, RawHTTP.request(
                "POST", "/v1/chat/completions", host: "evil.example:\(port)", headers: ["Content-Type: application/json"], body: Self.chatBody))
            let noHost = try await RawHTTP.exchange(port: port, RawHTTP.request("GET", "/v1/models", host: nil))
            var loopback: [RawHTTP.Reply] = []
            for name in ["127.0.0.1:\(port)", "localhost:\(port)", "[::1]:\(port)", "localhost", "LOCALHOST:\(port)"] {
                loopback.append(try await RawHTTP.exchange(port: port, RawHTTP.request("GET", "/v1/models", host: name)))
            }
            return (get, post, noHost, loopback, model.requestCount)
        }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let (get, post, noHost, loopback, modelCalls) = replies
        for refused in [get, post] {
            #expect(refused.status == 403, "\(refused)")
            #expect(refused.errorCode == "host_not_allowed", "\(refused)")
            #expect(refused.errorMessage.contains("--allowed-host"), "\(refused)")
        }
        #expect(noHost.status == 400 && noHost.errorCode == "host_not_allowed", "\(noHost)")
        #expect(modelCalls == 0, "a request with a foreign Host reached the model")
        for reply in loopback { #expect(reply.status == 200, "\(reply)") }
    }

    @Test func allowedHostLetsThatNameThrough() async throws {
        let (replies, run) = try await Self.withServer(["--allowed-host", "rlm.internal", "--allowed-host", "Box.Local"]) { handle, _ in
            let port = handle.port
            var replies: [RawHTTP.Reply] = []
            for name in ["rlm.internal:\(port)", "box.local", "other.internal:\(port)"] {
                replies.append(try await RawHTTP.exchange(port: port, RawHTTP.request("GET", "/v1/models", host: name)))
            }
            // A page served under an allowed name (rebound, or behind the same proxy) sends its own name as both
            // Host and Origin: the server serves no page, so that origin is not its own and is refused.
            replies.append(try await RawHTTP.exchange(port: port, RawHTTP.request(
                "POST", "/v1/chat/completions", host: "rlm.internal:\(port)",
                headers: ["Origin: http://rlm.internal:\(port)", "Content-Type: application/json"], body: Self.chatBody)))
            return replies
        }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        #expect(replies[0].status == 200, "\(replies[0])")
        #expect(replies[1].status == 200, "\(replies[1])")
        #expect(replies[2].status == 403 && replies[2].errorCode == "host_not_allowed", "\(replies[2])")
        #expect(replies[3].status == 403 && replies[3].errorCode == "origin_not_allowed", "\(replies[3])")
    }

    @Test func crossSitePostsAreRefused() async throws {
        let (replies, run) = try await Self.withServer([]) { handle, model in
            let port = handle.port
            let host = "127.0.0.1:\(port)"
            // What a form or a no-preflight fetch on evil.example sends.
            let crossSite = try await RawHTTP.exchange(port: port, RawHTTP.request(
                "POST", "/v1/chat/completions", host: host, headers: ["Origin: http://evil.example", "Content-Type: text/plain"], body: Self.chatBody))
            let crossSiteJSON = try await RawHTTP.exchange(port: port, RawHTTP.request(
                "POST", "/v1/chat/completions", host: host, headers: ["Origin: http://evil.example", "Content-Type: application/json"], body: Self.chatBody))
            let preflight = try await RawHTTP.exchange(port: port, RawHTTP.request(
                "OPTIONS", "/v1/chat/completions", host: host,
                headers: ["Origin: http://evil.example", "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: content-type"]))
            let plainText = try await RawHTTP.exchange(port: port, RawHTTP.request(
                "POST", "/v1/chat/completions", host: host, headers: ["Content-Type: text/plain"], body: Self.chatBody))
            let form = try await RawHTTP.exchange(port: port, RawHTTP.request(
                "POST", "/v1/chat/completions", host: host, headers: ["Content-Type: application/x-www-form-urlencoded"], body: Self.chatBody))
            return ([crossSite, crossSiteJSON, preflight, plainText, form], model.requestCount)
        }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let (list, modelCalls) = replies
        for refused in list[0...2] {
            #expect(refused.status == 403 && refused.errorCode == "origin_not_allowed", "\(refused)")
            #expect(refused.errorMessage.contains("--cors-origin"), "\(refused)")
            #expect(refused.headers["access-control-allow-origin"] == nil, "\(refused)")
        }
        for refused in list[3...4] {
            #expect(refused.status == 415 && refused.errorCode == "unsupported_media_type", "\(refused)")
            #expect(refused.errorMessage.contains("application/json"), "\(refused)")
        }
        #expect(modelCalls == 0, "a cross-site request reached the model")
    }

    @Test func allowedOriginGetsCORS() async throws {
        let origin = "http://localhost:3000"
        let (replies, run) = try await Self.withServer(["--cors-origin", origin]) { handle, _ in
            let port = handle.port
            let host = "127.0.0.1:\(port)"
            let preflight = try await RawHTTP.exchange(port: port, RawHTTP.request(
                "OPTIONS", "/v1/chat/completions", host: host,
                headers: ["Origin: \(origin)", "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: authorization, content-type"]))
            let models = try await RawHTTP.exchange(port: port, RawHTTP.request("GET", "/v1/models", host: host, headers: ["Origin: \(origin)"]))
            let answered = try await RawHTTP.exchange(port: port, RawHTTP.request(
                "POST", "/v1/chat/completions", host: host, headers: ["Origin: \(origin)", "Content-Type: application/json"], body: Self.chatBody))
            let missing = try await RawHTTP.exchange(port: port, RawHTTP.request("GET", "/v2/nothing", host: host, headers: ["Origin: \(origin)"]))
            let other = try await RawHTTP.exchange(port: port, RawHTTP.request(
                "OPTIONS", "/v1/chat/completions", host: host, headers: ["Origin: http://localhost:3001", "Access-Control-Request-Method: POST"]))
            return (preflight, models, answered, missing, other)
        }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let (preflight, models, answered, missing, other) = replies
        #expect(preflight.status == 204, "\(preflight)")
        #expect(preflight.headers["access-control-allow-origin"] == origin, "\(preflight)")
        #expect(preflight.headers["access-control-allow-methods"]?.contains("POST") == true, "\(preflight)")
        let allowedHeaders = preflight.headers["access-control-allow-headers"]?.lowercased() ?? ""
        #expect(allowedHeaders.contains("authorization") && allowedHeaders.contains("content-type"), "\(preflight)")
        #expect(preflight.headers["vary"]?.contains("Origin") == true, "\(preflight)")
        #expect(models.status == 200 && models.headers["access-control-allow-origin"] == origin, "\(models)")
        #expect(answered.status == 200 && answered.headers["access-control-allow-origin"] == origin, "\(answered)")
        #expect(answered.body.contains("3 chars"), "\(answered)")
        // The other site's script can read the server's refusals too.
        #expect(missing.status == 404 && missing.headers["access-control-allow-origin"] == origin, "\(missing)")
        #expect(other.status == 403 && other.errorCode == "origin_not_allowed", "\(other)")
    }

    @Test func bearerSchemeInAnyCase() async throws {
        let token = "guard-token-\(UUID().uuidString.prefix(8))"
        let (replies, run) = try await Self.withServer(["--auth-token-env", "GUARD_TOKEN"], environment: ["GUARD_TOKEN": token]) { handle, _ in
            let port = handle.port
            var replies: [RawHTTP.Reply] = []
            for authorization in ["Bearer \(token)", "bearer \(token)", "BEARER \(token)", "bEaReR  \(token)",
                                  "Bearer \(token)x", "Bearer \(token.dropLast())", "Basic \(token)", nil] {
                replies.append(try await RawHTTP.exchange(port: port, RawHTTP.request(
                    "GET", "/v1/models", host: "127.0.0.1:\(port)", headers: authorization.map { ["Authorization: \($0)"] } ?? [])))
            }
            return replies
        }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        for accepted in replies[0..<4] { #expect(accepted.status == 200, "\(accepted)") }
        for refused in replies[4...] {
            #expect(refused.status == 401 && refused.errorCode == "invalid_api_key", "\(refused)")
            #expect(refused.errorMessage.contains("--auth-token-env") && !refused.body.contains(token), "\(refused)")
        }
    }

    /// With every run slot taken, a client that has sent only its headers and the start of its body is refused at
    /// once; the server does not wait for (nor hold) the rest of the body.
    @Test func admissionComesBeforeTheBody() async throws {
        let (replies, run) = try await Self.withServer(["--max-concurrent-runs", "1"]) { handle, _ in
            let port = handle.port
            let declared = 4 << 20
            let head = RawHTTP.request("POST", "/v1/chat/completions", host: "127.0.0.1:\(port)",
                                       headers: ["Content-Type: application/json"], contentLength: declared)
            let start = Data(#"{"model":"rlm","messages":[{"role":"user","content":"q"}],"context":""#.utf8)
            // The first upload takes the only slot and stalls after the start of its body.
            let first = try await RawHTTP.Connection.open(port: port)
            defer { first.close() }
            try await first.send(head + start)
            var running = ""
            for _ in 0..<300 {
                running = try await RawHTTP.exchange(port: port, RawHTTP.request("GET", "/healthz", host: "127.0.0.1:\(port)")).body
                if running.contains("\"running\":\"1\"") { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let second = try await RawHTTP.Connection.open(port: port)
            defer { second.close() }
            try await second.send(head + start)
            return (running, try await second.readReply(seconds: 30))
        }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let (running, refused) = replies
        #expect(running.contains("\"running\":\"1\""), "the first upload held no run slot before its body arrived: /healthz said \(running)")
        #expect(refused.status == 429 && refused.errorCode == "rate_limit_exceeded", "\(refused)")
        #expect(refused.headers["retry-after"] != nil, "\(refused)")
    }

    @Test(.timeLimit(.minutes(1))) func anUploadTooSlowForTheBodyTimeoutGivesItsSlotBack() async throws {
        let (replies, run) = try await Self.withServer(["--max-concurrent-runs", "1", "--body-timeout", "2"]) { handle, model in
            let port = handle.port
            let head = RawHTTP.request("POST", "/v1/chat/completions", host: "127.0.0.1:\(port)",
                                       headers: ["Content-Type: application/json"], contentLength: 4 << 20)
            // The upload takes the only slot and stops after the start of its body.
            let slow = try await RawHTTP.Connection.open(port: port)
            defer { slow.close() }
            try await slow.send(head + Data(#"{"model":"rlm","messages":[{"role":"user","content":"q"}],"context":""#.utf8))
            let timedOut = try await slow.readReply(seconds: 30)
            // The slot is free again: the next request is admitted and answered.
            let next = try await RawHTTP.exchange(port: port, RawHTTP.request(
                "POST", "/v1/chat/completions", host: "127.0.0.1:\(port)", headers: ["Content-Type: application/json"], body: Self.chatBody))
            return (timedOut, next, model.requestCount)
        }
        #expect(run.exitCode == 0, "stderr: \(run.stderr)")
        let (timedOut, next, modelCalls) = replies
        #expect(timedOut.status == 408 && timedOut.errorCode == "body_timeout", "\(timedOut)")
        #expect(timedOut.body.contains("--body-timeout"), "\(timedOut)")
        #expect(next.status == 200, "the slot was not given back: \(next)")
        #expect(modelCalls >= 1)
    }

    @Test func nonLoopbackAddressNeedsAToken() async throws {
        let model = try await ModelSimulator.start(models: ["root"]) { _ in SimulatedReply(text: Self.answerLength) }
        defer { Task { await model.shutdown() } }
        let environment = ["RLM_BASE_URL": model.baseURL, "RLM_MODEL": "root"]
        for host in ["0.0.0.0", "::"] {
            let run = try await CLI.run(["serve", "--host", host, "--port", "0", "--no-log", "--sandbox", "basic"], environment: environment)
            #expect(run.exitCode == 2, "rlm serve --host \(host) without a token: exit \(run.exitCode), stderr: \(run.stderr)")
            #expect(run.stderr.contains("--auth-token-env") && run.stderr.contains("--no-auth"), "\(run.stderr)")
            #expect(!run.stderr.contains("listening on"), "\(run.stderr)")
        }
        // --no-auth starts with a warning. The port is held by a socket bound to every interface that never listens,
        // so the server cannot bind it: nothing is ever reachable beyond the loopback.
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = INADDR_ANY
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, length) == 0 && getsockname(holder, $0, &length) == 0 }
        }
        try #require(bound, "cannot reserve a port")
        let heldPort = Int(UInt16(bigEndian: address.sin_port))
        let unauthenticated = try await CLI.run(["serve", "--host", "0.0.0.0", "--port", String(heldPort), "--no-auth", "--no-log", "--sandbox", "basic"],
                                                environment: environment)
        #expect(unauthenticated.stderr.contains("warning: listening on 0.0.0.0 with --no-auth"), "\(unauthenticated.stderr)")
        #expect(unauthenticated.exitCode == 1 && !unauthenticated.stderr.contains("listening on http"), "\(unauthenticated.stderr)")
        let contradictory = try await CLI.run(["serve", "--no-auth", "--auth-token-env", "X"], environment: environment)
        #expect(contradictory.exitCode != 0 && contradictory.stderr.contains("--no-auth"), "\(contradictory.stderr)")
        let badOrigin = try await CLI.run(["serve", "--cors-origin", "http://localhost:3000/app"], environment: environment)
        #expect(badOrigin.exitCode != 0 && badOrigin.stderr.contains("--cors-origin"), "\(badOrigin.stderr)")
    }
}
