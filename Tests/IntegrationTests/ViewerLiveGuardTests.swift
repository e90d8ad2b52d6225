import Foundation
import Subprocess
import Testing
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// `rlm view --live` shows the log only to whoever has its URL: every request presents the URL's token (or the
/// cookie the page gets with it), names a loopback host, and comes from no other web site. Requests go over a raw
/// socket with the Host and Origin an attacker's page would make a browser send.
@Suite(.timeLimit(.minutes(2))) struct ViewerLiveGuardTests {
    static let secretLine = #"{"type":"run_started","query":"the secret question"}"#

    /// Runs `rlm view --live LOG ARGS` on a log holding ``secretLine``, gives `body` the printed URL, then stops it.
    static func withLiveView<T: Sendable>(_ arguments: [String] = [],
                                          _ body: @escaping @Sendable (URLComponents) async throws -> T) async throws -> T {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("rlm-live-guard-\(UUID().uuidString.prefix(8)).jsonl")
        try (secretLine + "\n").write(to: log, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: log) }
        let result = try await Subprocess.run(
            .path(FilePath(CLI.binary)), arguments: Arguments(["view", "--live", log.path] + arguments),
            environment: .custom(CLI.environment([:])), input: .none, output: .sequence, error: .string(limit: 1 << 20)
        ) { execution -> Result<T, any Error> in
            var lines = execution.standardOutput.strings().makeAsyncIterator()
            let printed = (try await lines.next() ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            defer { try? execution.send(signal: .terminate) }
            guard let url = URLComponents(string: printed), url.port != nil else {
                return .failure(RawHTTP.Failure(description: "rlm view --live printed \(printed)"))
            }
            do { return .success(try await body(url)) } catch { return .failure(error) }
        }
        return try result.closureResult.get()
    }

    @Test func pageAndLogNeedTheURLToken() async throws {
        let replies = try await Self.withLiveView { url in
            let port = url.port!
            let token = url.queryItems?.first { $0.name == "token" }?.value ?? ""
            let host = "127.0.0.1:\(port)"
            let bare = try await RawHTTP.exchange(port: port, RawHTTP.request("GET", "/", host: host))
            let bareLog = try await RawHTTP.exchange(port: port, RawHTTP.request("GET", "/log?offset=0", host: host))
            let wrong = try await RawHTTP.exchange(port: port, RawHTTP.request("GET", "/?token=\(String(repeating: "0", count: 32))", host: host))
            let page = try await RawHTTP.exchange(port: port, RawHTTP.request("GET", "/?token=\(token)", host: host))
            // The page's own fetch of the log carries the cookie the page's answer set, not the token.
            let cookie = page.headers["set-cookie"]?.split(separator: ";").first.map(String.init) ?? ""
            let log = try await RawHTTP.exchange(port: port, RawHTTP.request("GET", "/log?offset=0", host: host, headers: ["Cookie: \(cookie)"]))
            let forgedCookie = try await RawHTTP.exchange(port: port, RawHTTP.request(
                "GET", "/log?offset=0", host: host, headers: ["Cookie: \(cookie.split(separator: "=")[0])=\(String(repeating: "f", count: 32))"]))
            return (token, [bare, bareLog, wrong, page, log, forgedCookie])
        }
        let (token, list) = replies
        #expect(token.count == 32 && token.allSatisfy(\.isHexDigit), "the URL's token is \(token): not 128 bits in hex")
        for refused in [list[0], list[1], list[2], list[5]] {
            #expect(refused.status == 401 && refused.errorCode == "invalid_api_key", "\(refused)")
            #expect(refused.errorMessage.contains("?token="), "\(refused)")
            #expect(!refused.body.contains("secret question") && !refused.body.contains(token), "\(refused)")
        }
        let page = list[3]
        #expect(page.status == 200 && page.body.contains("<html"), "\(page.status) \(page.headers)")
        let cookie = page.headers["set-cookie"] ?? ""
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "Set-Cookie: \(cookie)")
        #expect(list[4].status == 200 && list[4].body.contains("secret question"), "\(list[4])")
    }

    @Test func foreignHostAndOtherSitesAreRefusedEvenWithTheToken() async throws {
        let replies = try await Self.withLiveView(["--allowed-host", "viewer.test"]) { url in
            let port = url.port!
            let token = url.queryItems?.first { $0.name == "token" }?.value ?? ""
            var replies: [RawHTTP.Reply] = []
            for (host, headers) in [("evil.example:\(port)", [String]()), ("evil.example", []),
                                    ("127.0.0.1:\(port)", ["Origin: http://evil.example"]),
                                    ("viewer.test:\(port)", []), ("localhost:\(port)", [])] {
                replies.append(try await RawHTTP.exchange(port: port, RawHTTP.request("GET", "/log?offset=0&token=\(token)", host: host, headers: headers)))
            }
            return replies
        }
        for refused in replies[0...1] {
            #expect(refused.status == 403 && refused.errorCode == "host_not_allowed", "\(refused)")
            #expect(refused.errorMessage.contains("--allowed-host"), "\(refused)")
            #expect(!refused.body.contains("secret question"), "\(refused)")
        }
        #expect(replies[2].status == 403 && replies[2].errorCode == "origin_not_allowed", "\(replies[2])")
        #expect(replies[2].errorMessage.contains("--cors-origin") && !replies[2].body.contains("secret question"), "\(replies[2])")
        for allowed in replies[3...4] {
            #expect(allowed.status == 200 && allowed.body.contains("secret question"), "\(allowed)")
        }
    }
}
