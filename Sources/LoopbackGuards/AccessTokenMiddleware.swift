import Hummingbird

/// Refuses (401) requests that do not present the server's token.
///
/// `rlm serve` takes it as `Authorization: Bearer TOKEN` (the scheme in any case, as RFC 7235 says), which the
/// openai clients send as their api_key. The live viewer's URL carries it as `?token=`, as Jupyter's does; the first
/// page load with it sets a cookie, so that the page's own requests (`/log`) present it without the script knowing.
public struct AccessTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Where a request may present the token.
    public enum Source: Sendable, Hashable {
        /// `Authorization: Bearer TOKEN`.
        case bearer
        /// `?token=TOKEN`, then the cookie the answer sets.
        case queryAndCookie(cookieName: String)
    }

    let token: AccessToken
    let sources: [Source]
    let openPaths: Set<String>
    let refusal: String

    /// - Parameters:
    ///   - token: the secret.
    ///   - sources: where requests may present it.
    ///   - openPaths: paths answered without it (`/healthz`, so that probes need no secret).
    ///   - refusal: what a refused client is told: how to get the token, without it.
    public init(token: AccessToken, sources: [Source], openPaths: Set<String> = [], refusal: String) {
        self.token = token
        self.sources = sources
        self.openPaths = openPaths
        self.refusal = refusal
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if openPaths.contains(request.uri.path) { return try await next(request, context) }
        var setCookie: String?
        var presented = false
        for source in sources where !presented {
            switch source {
            case .bearer:
                presented = Self.bearerCredentials(request.headers[.authorization]).map(token.matches) ?? false
            case .queryAndCookie(let cookieName):
                if let query = request.uri.queryParameters.get("token"), token.matches(query) {
                    presented = true
                    setCookie = cookieName
                } else if let cookie = request.cookies[cookieName] {
                    presented = token.matches(cookie.value)
                }
            }
        }
        guard presented else {
            // The token given, if any, is never echoed back.
            throw GuardRefusal(status: .unauthorized, code: "invalid_api_key", message: refusal,
                               headers: sources.contains(.bearer) ? [.wwwAuthenticate: "Bearer"] : [:])
        }
        var response = try await next(request, context)
        if let setCookie, let value = request.uri.queryParameters.get("token") {
            response.setCookie(Cookie(name: setCookie, value: String(value), path: "/", httpOnly: true, sameSite: .strict))
        }
        return response
    }

    /// The credentials of an `Authorization` header whose scheme is `Bearer` in any case; nil for another scheme.
    public static func bearerCredentials(_ header: String?) -> Substring? {
        guard let header else { return nil }
        let trimmed = header.drop { $0 == " " }
        guard let space = trimmed.firstIndex(of: " "), trimmed[..<space].lowercased() == "bearer" else { return nil }
        return trimmed[space...].drop { $0 == " " }
    }
}
