// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "hutch",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "hutch", targets: ["hutch"]),
    ],
    targets: [
        // The C shim (Sources/hutch-shim) is not a SwiftPM target: SwiftPM links every executable
        // against libswiftCore, which costs the shim ~15 ms of start-up and ~1 MiB of resident
        // memory per detached container. The Makefile builds it with cc, statically.
        // C: thin plain-function glue over libnl-route-3 and libnftables for Swift. The libraries
        // are linked statically: each shared library costs every hutch process its loading and
        // symbol binding at start (bench/README.md). libmnl (libnftnl's) stays shared: it has no .a.
        .target(
            name: "CHutchNet",
            path: "Sources/CHutchNet",
            cSettings: [.unsafeFlags(["-I/usr/include/libnl3", "-Wall"])],
            linkerSettings: [
                // libnftables is dlopen()ed on first use (nft.c), so not linked here.
                .linkedLibrary(":libnl-route-3.a"), .linkedLibrary(":libnl-3.a"), .linkedLibrary(":libnftnl.a"),
                .linkedLibrary("mnl"), .linkedLibrary("netfilter_conntrack"),  // shared: Debian has no .a of either
            ]
        ),
        // C: SQLite for the state store (linked statically, as above), plus the two calls Swift
        // can't make directly.
        .target(name: "CSQLite", path: "Sources/CSQLite", linkerSettings: [.linkedLibrary(":libsqlite3.a")]),
        .target(
            name: "HutchKit",
            dependencies: ["CHutchNet", "CSQLite"],
            swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/libnl3"])]
        ),
        .executableTarget(
            name: "hutch",
            dependencies: ["HutchKit"]
        ),
        .testTarget(name: "HutchKitTests", dependencies: ["HutchKit", "CSQLite"]),
    ],
    swiftLanguageModes: [.v6]
)
