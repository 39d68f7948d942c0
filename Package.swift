// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "hutch",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "hutch", targets: ["hutch"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The C shim (Sources/hutch-shim) is not a SwiftPM target: SwiftPM links every executable
        // against libswiftCore, which costs the shim ~15 ms of start-up and ~1 MiB of resident
        // memory per detached container. The Makefile builds it with cc, statically.
        // C: thin plain-function glue over libnl-route-3 and libnftables for Swift.
        .target(
            name: "CHutchNet",
            path: "Sources/CHutchNet",
            cSettings: [.unsafeFlags(["-I/usr/include/libnl3", "-Wall"])],
            linkerSettings: [
                // libnftables is dlopen()ed on first use (nft.c), so not linked here.
                .linkedLibrary("nl-route-3"), .linkedLibrary("nl-3"), .linkedLibrary("nftnl"),
            ]
        ),
        // C: SQLite for the state store, plus the two calls Swift can't make directly.
        .target(name: "CSQLite", path: "Sources/CSQLite", linkerSettings: [.linkedLibrary("sqlite3")]),
        .target(
            name: "HutchKit",
            dependencies: ["CHutchNet", "CSQLite"],
            swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/libnl3"])]
        ),
        .executableTarget(
            name: "hutch",
            dependencies: [
                "HutchKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "HutchKitTests", dependencies: ["HutchKit", "CSQLite"]),
    ],
    swiftLanguageModes: [.v6]
)
