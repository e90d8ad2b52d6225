import Hummingbird

/// Refuses (415) a request that carries a body other than `application/json`.
///
/// A web page may send a `text/plain`, form or multipart POST to any address without asking first (no CORS
/// preflight); a JSON POST from another site always needs one, which ``OriginAllowListMiddleware`` answers only for
/// origins on the allow-list.
public struct JSONContentTypeMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard ![.get, .head, .options].contains(request.method) else { return try await next(request, context) }
        let mediaType = request.headers[.contentType]?.split(separator: ";").first?
            .trimmingCharacters(in: .whitespaces).lowercased()
        guard mediaType == "application/json" else {
            throw GuardRefusal(status: .unsupportedMediaType, code: "unsupported_media_type",
                               message: "a \(request.method) must carry Content-Type: application/json (got \(mediaType.map { $0.prefix(100) } ?? "none")); other types are refused because any web page can send them without asking. Send the body as JSON with that header.")
        }
        return try await next(request, context)
    }
}
