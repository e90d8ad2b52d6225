// swift-tools-version: 6.2
import PackageDescription

// An app that triages support tickets with an RLM, and tests that code without a network (RLMTesting).
let package = Package(
    name: "SupportBot",
    platforms: [.macOS(.v15)],
    dependencies: [
        // In an app of your own: .package(url: "https://github.com/OWNER/swift-rlm", branch: "main").
        .package(name: "swift-rlm", path: "../.."),
    ],
    targets: [
        .target(name: "SupportBot", dependencies: [.product(name: "RLMKit", package: "swift-rlm")]),
        .testTarget(
            name: "SupportBotTests",
            dependencies: ["SupportBot", .product(name: "RLMTesting", package: "swift-rlm")]
        ),
    ]
)
