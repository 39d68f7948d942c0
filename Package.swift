// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "hutch",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "hutch", targets: ["hutch"]),
        .executable(name: "hutch-node", targets: ["hutch-node"]),
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
                // libnftables and libnetfilter_conntrack are dlopen()ed on first use (nft.c, conntrack.c)
                .linkedLibrary(":libnl-route-3.a"), .linkedLibrary(":libnl-3.a"), .linkedLibrary(":libnftnl.a"),
                .linkedLibrary("mnl"),  // shared: it has no .a
            ]
        ),
        // C: SQLite for the state store (linked statically, as above), plus the two calls Swift
        // can't make directly.
        .target(name: "CSQLite", path: "Sources/CSQLite", linkerSettings: [.linkedLibrary(":libsqlite3.a")]),
        // The Swift layers, one direction only (each may use those above it, never those below):
        //   HutchOS       syscalls, processes, sysctls, the shim launcher, errors  (no hutch types)
        //   HutchModel    pure values: containers, pods, networks, ports, addresses, options, JSON
        //   HutchState    the SQLite store: every SQL statement, typed at the boundary
        //   HutchNet      netlink, bridge/veth wiring, the firewall backends
        //   HutchRuntime  lifecycle, composing the others; gc
        //   HutchCLI      the table-driven command-line parser (no hutch types)
        //   hutch         the commands, one file per noun
        //   HutchCluster  etcd (over CHutchEtcd/libcurl), subnet leases, overlay, node agent
        //   hutch-node    `hutch node ...` (hutch execs it), so `hutch` never links libcurl
        .target(name: "HutchOS", dependencies: ["CHutchNet"]),
        .target(name: "HutchModel", dependencies: ["HutchOS"]),
        .target(name: "HutchState", dependencies: ["HutchModel", "HutchOS", "CSQLite"]),
        .target(name: "HutchNet", dependencies: ["HutchModel", "HutchOS", "CHutchNet"],
                swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/libnl3"])]),
        .target(name: "HutchRuntime", dependencies: ["HutchModel", "HutchOS", "HutchState", "HutchNet"]),
        .target(name: "HutchCLI", dependencies: ["HutchOS"]),
        // C: libcurl for etcd's JSON gateway (shared: only hutch-node links it, so plain
        // `hutch run` never loads it).
        .target(name: "CHutchEtcd", path: "Sources/CHutchEtcd", cSettings: [.unsafeFlags(["-Wall"])],
                linkerSettings: [.linkedLibrary("curl")]),
        // HutchCluster: the etcd client, subnet leases, the overlay (vxlan, host-gw) and the node
        // agent (issue 16). Used by the hutch-node executable only.
        .target(name: "HutchCluster", dependencies: ["HutchRuntime", "HutchNet", "HutchState", "HutchModel", "HutchOS", "CHutchEtcd"]),
        .executableTarget(name: "hutch-node", dependencies: ["HutchCluster", "HutchCLI", "HutchRuntime", "HutchModel", "HutchOS"]),
        .executableTarget(
            name: "hutch",
            dependencies: ["HutchCLI", "HutchRuntime", "HutchModel", "HutchOS"]
        ),
        // Not a test: `make bench-ports` (publish/unpublish cost at 1, 100 and 1,000 mappings).
        .executableTarget(name: "bench-ports", dependencies: ["HutchNet", "HutchModel", "HutchOS"], path: "bench/ports"),
        .testTarget(name: "HutchKitTests",
                    dependencies: ["HutchCLI", "HutchRuntime", "HutchNet", "HutchState", "HutchModel", "HutchOS", "CSQLite", "HutchCluster"],
                    swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/libnl3"])]),
    ],
    swiftLanguageModes: [.v6]
)
