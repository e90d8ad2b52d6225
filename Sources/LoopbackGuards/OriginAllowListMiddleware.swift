import Hummingbird

/// Refuses requests a browser sends on behalf of another site, and gives the origins on the allow-list (`--cors-origin`)
/// proper CORS: preflights answered, `Access-Control-Allow-*` headers on every answer.
///
/// A request without `Origin` (curl, the openai clients) and one from the server's own page (`Origin` equal to
/// `http://` and the `Host` the ``HostAllowListMiddleware`` let through) pass untouched. The shape follows
/// Hummingbird's `CORSMiddleware`, which answers every origin instead of refusing the others.
public struct OriginAllowListMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowedOrigins: Set<String>
    let allowMethods: String
    let allowHeaders: String
    let exposeHeaders: String?
    let maxAgeSeconds: Int
    let allowSameOrigin: Bool

    /// - Parameters:
    ///   - allowedOrigins: origins such as `http://localhost:3000` (`--cors-origin`); empty refuses every other site.
    ///   - allowMethods: what a preflight allows.
    ///   - allowHeaders: request headers a preflight allows.
    ///   - exposeHeaders: response headers the other site's script may read.
    ///   - allowSameOrigin: let through an `Origin` that names the request's own `Host`: for a server that serves
    ///     its own page. A server without pages passes false, since where the Host check does not run (another
    ///     `--host`), a rebound page's origin is "the same" as the Host it sends.
    public init(allowedOrigins: [String], allowMethods: [HTTPRequest.Method] = [.get, .post, .options],
                allowHeaders: [String] = ["Authorization", "Content-Type"], exposeHeaders: [String] = [],
                maxAgeSeconds: Int = 600, allowSameOrigin: Bool = true) {
        self.allowSameOrigin = allowSameOrigin
        self.allowedOrigins = Set(allowedOrigins.map(AllowListEntry.normalizedOrigin))
        self.allowMethods = allowMethods.map(\.rawValue).joined(separator: ", ")
        self.allowHeaders = allowHeaders.joined(separator: ", ")
        self.exposeHeaders = exposeHeaders.isEmpty ? nil : exposeHeaders.joined(separator: ", ")
        self.maxAgeSeconds = maxAgeSeconds
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin] else { return try await next(request, context) }
        let normalized = AllowListEntry.normalizedOrigin(origin)
        if allowSameOrigin, let authority = request.head.authority, normalized == "http://" + authority.lowercased() {
            return try await next(request, context)
        }
        guard allowedOrigins.contains(normalized) else {
            throw GuardRefusal(status: .forbidden, code: "origin_not_allowed",
                               message: "requests from the web origin \(origin.prefix(200)) are refused: a page of another site cannot use this server. To let that origin's pages call it, start the server with --cors-origin \(origin.prefix(200)).")
        }
        if request.method == .options {
            var headers: HTTPFields = [
                .accessControlAllowOrigin: origin,
                .accessControlAllowMethods: allowMethods,
                .accessControlMaxAge: String(maxAgeSeconds),
                .vary: "Origin",
            ]
            if !allowHeaders.isEmpty { headers[.accessControlAllowHeaders] = allowHeaders }
            if let exposeHeaders { headers[.accessControlExposeHeaders] = exposeHeaders }
            return Response(status: .noContent, headers: headers)
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            // The other site's script may read our refusals (a 429, a 401) too.
            response = try error.response(from: request, context: context)
        }
        response.headers[.accessControlAllowOrigin] = origin
        if let exposeHeaders { response.headers[.accessControlExposeHeaders] = exposeHeaders }
        response.headers[values: .vary].append("Origin")
        return response
    }
}
