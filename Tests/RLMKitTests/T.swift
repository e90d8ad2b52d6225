import Testing
@testable import RLMKit
@Test func smoke() { #expect(RLMKitVersion.string == "0.1.0") }
