import Crypto
import Foundation

extension SubcallCache {
    /// What makes two sub-calls identical: the same endpoint, model, messages and parameters. It is the SHA-256
    /// of a canonical encoding of all of them, so the prompt itself never appears in a file name.
    public struct Key: Hashable, Sendable, CustomStringConvertible {
        /// The SHA-256 as 64 lowercase hexadecimal digits; also the entry's file name.
        public let digest: String

        /// The key of `request` sent to `model` at `endpoint`.
        public init(endpoint: String, model: String, request: ModelRequest) {
            let canonical = Canonical(endpoint: endpoint, model: model, messages: request.messages,
                                      maxOutputTokens: request.maxOutputTokens, temperature: request.temperature)
            // Sorted keys and a fixed field set: the same call always encodes to the same bytes. Every field of
            // this value encodes, so a failure cannot happen; an empty body would still give a stable key.
            let bytes = (try? Self.encoder.encode(canonical)) ?? Data()
            digest = HexEncoding.string(SHA256.hash(data: bytes))
        }

        /// The key of `request` sent to `model`, at the model's own endpoint and under its own name.
        public init(model: any LanguageModel, request: ModelRequest) {
            self.init(endpoint: model.endpointDescription, model: model.name, request: request)
        }

        public var description: String { digest }

        private static let encoder: JSONEncoder = {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return encoder
        }()

        /// Everything a reply depends on. `format` changes whenever a field is added, so old entries stop matching.
        private struct Canonical: Encodable {
            var format = 1
            var endpoint: String
            var model: String
            var messages: [ChatMessage]
            var maxOutputTokens: Int?
            var temperature: Double?

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(format, forKey: .format)
                try container.encode(endpoint, forKey: .endpoint)
                try container.encode(model, forKey: .model)
                try container.encode(messages, forKey: .messages)
                // Written even when nil, so "no cap" and a cap are told apart by more than a missing key.
                try container.encode(maxOutputTokens, forKey: .maxOutputTokens)
                try container.encode(temperature, forKey: .temperature)
            }

            enum CodingKeys: String, CodingKey {
                case format, endpoint, model, messages, temperature
                case maxOutputTokens = "max_output_tokens"
            }
        }
    }
}
