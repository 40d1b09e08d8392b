// swift-tools-version:6.1
import PackageDescription

// Layers point one way: the `etl` executable -> components (connectors, transforms) -> ETLCore.
let package = Package(
    name: "etl",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "etl", targets: ["etl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // Runner core: JSON rows, pipeline specs, the component registry, the run state machine,
        // the SQLite checkpoint store and the runner. Knows no connector.
        .target(
            name: "ETLCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // Generic components: jsonl source and sink, and the transforms.
        .target(name: "ETLComponents", dependencies: ["ETLCore"]),
        .executableTarget(
            name: "etl",
            dependencies: [
                "ETLCore",
                "ETLComponents",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "ETLCoreTests", dependencies: ["ETLCore", "ETLComponents"]),
        .testTarget(name: "ETLIntegrationTests", dependencies: ["ETLCore"]),
    ],
    swiftLanguageModes: [.v6]
)
