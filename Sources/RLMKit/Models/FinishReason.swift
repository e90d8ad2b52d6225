/// Why a model stopped writing.
public enum FinishReason: Sendable, Equatable, Codable {
    /// It finished on its own.
    case stop
    /// It hit the output-token limit, so the text is cut off.
    case length
    /// Anything else the server reported.
    case other(String)

    init(wireValue: String?) {
        switch wireValue {
        case nil, "stop", "end_turn", "stop_sequence": self = .stop
        case "length", "max_tokens": self = .length
        case let value?: self = .other(value)
        }
    }

    public var label: String {
        switch self {
        case .stop: "stop"
        case .length: "length"
        case .other(let value): value
        }
    }

    public init(from decoder: any Decoder) throws {
        self.init(wireValue: try decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(label)
    }
}
