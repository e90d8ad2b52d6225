import Foundation
import Hummingbird

/// A request a loopback guard turned away: a 4xx whose JSON body names the rule that refused it and the flag that
/// changes the rule, in OpenAI's error shape (`{"error": {"message", "type", "param", "code"}}`) so that the
/// official clients raise it with our message.
public struct GuardRefusal: Error, HTTPResponseError, Sendable {
    /// The 4xx status.
    public var status: HTTPResponse.Status
    /// The rule, as a short stable code (`host_not_allowed`, `origin_not_allowed`, `unsupported_media_type`,
    /// `invalid_api_key`).
    public var code: String
    /// What was refused, why, and which flag changes it. Never echoes a secret.
    public var message: String
    public var headers: HTTPFields = [:]

    public init(status: HTTPResponse.Status, code: String, message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json"
        let body: [String: Any] = ["error": ["message": message, "type": "invalid_request_error", "param": NSNull(), "code": code] as [String: Any]]
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
