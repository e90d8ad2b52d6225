// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "swift-rlm",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "RLMKit", targets: ["RLMKit"]),
        .executable(name: "rlm", targets: ["rlm"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.0"),
        // Already in the graph through AsyncHTTPClient; the CLI takes SHA-256 from it for `rlm trust`.
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // The engine: root loop, prompts, parsing, limits, usage, providers and the REPL process.
        .target(
            name: "RLMKit",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            resources: [.copy("REPL/Resources/rlm_driver.py")]
        ),
        // The command-line interface.
        .executableTarget(
            name: "rlm",
            dependencies: [
                "RLMKit",
                "RLMBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // A local OpenAI-wire model server with scripted replies and simulated latency,
        // for integration tests and the engine benchmark. Never shipped as a product.
        .target(
            name: "ModelSimulator",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Checks the providers against a real model server (scripts/llama-integration.sh).
        .executableTarget(name: "ProviderCheck", dependencies: ["RLMKit"]),
        // `rlm bench`: task generators, scorers, result files, summary, plot, and the engine benchmark.
        .target(
            name: "RLMBench",
            dependencies: ["RLMKit", "ModelSimulator", .product(name: "Subprocess", package: "swift-subprocess")]
        ),
        .testTarget(name: "RLMKitTests", dependencies: ["RLMKit"]),
        .testTarget(name: "RLMBenchTests", dependencies: ["RLMBench"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["RLMKit", "ModelSimulator", "rlm", .product(name: "Subprocess", package: "swift-subprocess")]
        ),
    ]
)
