import Crypto
import Foundation
import Hummingbird
import NIOPosix
import RLMKit

extension ChatCompletionHandler {
    /// Who asks, as far as sessions care: the session they name, and the SHA-256 of their Bearer token.
    struct Caller: Sendable {
        var sessionID: String?
        var owner: SHA256Digest?

        /// The session from the body field `session` or the header `X-RLM-Session` (which must agree when both
        /// are given), and the token from `Authorization`.
        init(_ chat: ChatCompletionRequest, headers: HTTPFields) throws(APIError) {
            let header = headers[ChatCompletionHandler.sessionHeader].map { $0.trimmingCharacters(in: .whitespaces) }
            if let header, let field = chat.session, header != field {
                throw .invalidRequest("the body field session and the header X-RLM-Session name different sessions; send one of them.", param: "session")
            }
            sessionID = chat.session ?? header
            owner = SessionStore.owner(authorization: headers[.authorization])
        }
    }

    /// Where the run goes: the caller's session, checked out for this request, or a new conversation over the
    /// context the request names (resolved off the cooperative threads: hashing a folder takes a while).
    func target(of chat: ChatCompletionRequest, caller: Caller) async throws -> ContextRunner.Target {
        if let id = caller.sessionID {
            if chat.context != nil || chat.contextPaths != nil {
                throw APIError.invalidRequest("a session keeps the context it was started with; drop context and context_paths to continue it, or drop session to start a new conversation over this context.", param: "session")
            }
            let session = try await runner.sessions.checkOut(id, owner: caller.owner, load: runner.makeSession)
            return .session(id: id, session)
        }
        let filesRoot = self.filesRoot
        let resolved = try await NIOThreadPool.singleton.runIfActive { try ResolvedContext.resolve(chat, filesRoot: filesRoot) }
        return .newConversation(resolved, reusable: chat.context != nil || chat.contextPaths != nil, owner: caller.owner)
    }
}
