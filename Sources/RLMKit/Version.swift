public enum RLMKitVersion { public static let string = "0.1.0" }
