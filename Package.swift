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
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
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
        // `rlm serve`: the OpenAI-compatible HTTP face of the engine, kept out of RLMKit.
        .target(
            name: "RLMServer",
            dependencies: [
                "RLMKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The command-line interface.
        .executableTarget(
            name: "rlm",
            dependencies: [
                "RLMKit",
                "RLMServer",
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
        .executableTarget(
            name: "EngineBench",
            dependencies: ["RLMKit", "ModelSimulator", .product(name: "Subprocess", package: "swift-subprocess")],
            path: "Benchmarks/EngineBench"
        ),
        // Server overhead against RLMKit called directly, and a large context asked three times.
        .executableTarget(
            name: "ServeBench",
            dependencies: ["RLMKit", "RLMServer", "ModelSimulator",
                           .product(name: "AsyncHTTPClient", package: "async-http-client")],
            path: "Benchmarks/ServeBench"
        ),
        // Three questions over one large context: a session against separate runs (see BENCHMARKS.md).
        .executableTarget(
            name: "SessionBench",
            dependencies: ["RLMKit", "ModelSimulator"],
            path: "Benchmarks/SessionBench"
        ),
        .testTarget(name: "RLMKitTests", dependencies: ["RLMKit"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["RLMKit", "ModelSimulator", "rlm", .product(name: "Subprocess", package: "swift-subprocess"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client")]
        ),
    ]
)
