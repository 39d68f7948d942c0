import HutchRuntime
import HutchCLI
import HutchOS
#if canImport(Glibc)
import Glibc
#endif

/// `hutch node …` runs `hutch-node` (next to hutch, or $HUTCH_NODE) with the same arguments: the
/// etcd client and the cluster logic live there, so no other command loads libcurl.
enum NodeForward {
    /// Listed in `hutch --help`; never run (main execs hutch-node before parsing).
    static let command = CLICommand(
        "node", abstract: "Cluster nodes: join a multi-node pod network on etcd, ls, inspect, leave (runs hutch-node).") { _ in
        throw HutchError("hutch node: run through hutch-node")
    }

    /// Options every command takes that carry a value (they may stand before `node`).
    static let globalsWithValue: Set<String> = ["--root", "--firewall"]

    static func execIfNodeCommand(_ argv: [String]) {
        var i = 1
        while i < argv.count {
            let a = argv[i]
            if globalsWithValue.contains(a) { i += 2; continue }
            if a.hasPrefix("--root=") || a.hasPrefix("--firewall=") { i += 1; continue }
            break
        }
        guard i < argv.count, argv[i] == "node" else { return }
        let path = Runtime.nodeProgram
        let cargs: [UnsafeMutablePointer<CChar>?] = ([path] + argv.dropFirst()).map { strdup($0) } + [nil]
        cargs.withUnsafeBufferPointer { _ = execv(path, $0.baseAddress!) }
        Out.err("hutch: cannot run \(path): \(errnoString(errno)) (hutch node needs hutch-node next to hutch, or set HUTCH_NODE)")
        exit(125)
    }
}
