// `make bench-ports`: the cost of publishing/unpublishing one port with 1, 100 and 1,000 mappings
// already published, for both backends, beside exec'ing `iptables -t nat -A` per rule.
// A benchmark, not a test: it refuses to run outside a throwaway network namespace.
import Foundation
import HutchModel
import HutchNet
import HutchOS
#if canImport(Glibc)
import Glibc
#endif

func fail(_ why: String) -> Never {
    FileHandle.standardError.write(("bench-ports: " + why + "\n").data(using: .utf8)!)
    exit(1)
}

do {
    guard getuid() == 0 else { fail("needs root") }
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")) ?? "a"
    let init1 = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/1/ns/net")) ?? "a"
    guard me != init1 else { fail("refusing to run in PID 1's netns: run under `unshare --net` (make bench-ports)") }
    _ = try Command.run(["/usr/sbin/ip", "link", "set", "lo", "up"])

    let n = BridgeNetwork(name: "bench", bridge: "hbr-bench", subnet: CIDRv4("10.250.0.0/16")!, gateway: IPv4Address("10.250.0.1")!)
    let reps = Int(ProcessInfo.processInfo.environment["HUTCH_BENCH_REPS"] ?? "20") ?? 20
    func fwd(_ i: Int, _ port: UInt16) -> PortForward {
        PortForward(owner: String(format: "%064x", i), mapping: PortMapping(hostIP: nil, hostPort: port, containerPort: 80, proto: .tcp),
                    containerIP: IPv4Address(0x0afa_0000 + UInt32(2 + i)), network: n)
    }
    func ms(_ body: () throws -> Void) rethrows -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds; try body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
    }
    func median(_ a: [Double]) -> Double { let s = a.sorted(); return s[s.count / 2] }
    var lines = ["mappings  backend                          add 1 (ms)  remove 1 (ms)   (median of \(reps))"]
    func row(_ size: Int, _ name: String, _ add: Double, _ rm: Double?) {
        lines.append(String(format: "%8d  %-32@ %10.3f  %13@", size, name as NSString, add,
                            (rm.map { String(format: "%.3f", $0) } ?? "-") as NSString))
    }
    var nftAdd: [Int: Double] = [:]
    let ipt = IptablesFirewall(lockPath: NSTemporaryDirectory() + "hutch-bench.lock")
    for size in [1, 100, 1000] {
        let existing = (0..<size).map { fwd($0, UInt16(20000 + $0)) }
        let probe = fwd(5000, 9999)
        // nftables: libnftnl elements (what addPorts does)
        let nft = NftablesFirewall()
        try nft.setupNetwork(n)
        try nft.addPorts(existing)
        var a: [Double] = [], r: [Double] = []
        for _ in 0..<reps { a.append(try ms { try nft.addPorts([probe]) }); r.append(try ms { try nft.removePorts([probe]) }) }
        nftAdd[size] = median(a)
        row(size, "nftables (libnftnl elements)", median(a), median(r))
        try nft.removePorts(existing)
        try nft.teardownNetwork(n)
        // iptables backend: iptables-save + one iptables-restore --noflush batch
        try ipt.setupNetwork(n)
        try ipt.addPorts(existing)
        a = []; r = []
        for _ in 0..<max(reps / 4, 3) { a.append(try ms { try ipt.addPorts([probe]) }); r.append(try ms { try ipt.removePorts([probe]) }) }
        row(size, "iptables (save + restore batch)", median(a), median(r))
        // baseline: exec `iptables -t nat -A` per rule
        a = []; r = []
        let rule = ["-p", "tcp", "--dport", "9999", "-j", "DNAT", "--to-destination", "10.250.0.2:80"]
        for _ in 0..<max(reps / 4, 3) {
            a.append(try ms { _ = try Command.run(["/usr/sbin/iptables", "-w", "-t", "nat", "-A", "HUTCH"] + rule) })
            r.append(try ms { _ = try Command.run(["/usr/sbin/iptables", "-w", "-t", "nat", "-D", "HUTCH"] + rule) })
        }
        row(size, "baseline: iptables -t nat -A/-D", median(a), median(r))
        try ipt.removePorts(existing)
        try ipt.teardownNetwork(n)
    }
    if let one = nftAdd[1], let k = nftAdd[1000] {
        lines.append(String(format: "nftables add cost at 1,000 / at 1: %.2fx (goal <= 1.5x)", k / one))
    }
    let report = lines.joined(separator: "\n")
    print(report)
} catch {
    fail("\(error)")
}
