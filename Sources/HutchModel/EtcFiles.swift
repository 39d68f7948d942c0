#if canImport(Glibc)
import Glibc
#endif
import HutchOS

/// The generated files a container sees at /etc/hosts, /etc/hostname and /etc/resolv.conf.
/// Value types with a rendered string, written into the container's folder and bind-mounted.
public struct HostsFile: Equatable, Sendable {
    public var hostname: String
    public var name: String
    public var address: IPv4Address?
    public var gateway: IPv4Address?
    /// `--network-alias` names of this container.
    public var aliases: [String] = []
    /// The other containers on a user-defined network: address and names.
    public var peers: [(IPv4Address, [String])] = []
    /// `--add-host` lines (address, name), in the order given; before the peers, so that a name
    /// the user gave wins over a container of the same name.
    public var extraHosts: [(IPv4Address, String)] = []
    /// This container's addresses on networks it joined with `network connect`.
    public var moreAddresses: [IPv4Address] = []
    /// Services: the lines `CLUSTERIP\tNAME NAME.default.svc.cluster.local` (`serviceLines`),
    /// after the peers; rendered once for every container that gets them.
    public var services: String = ""

    public init(hostname: String, name: String, address: IPv4Address?, gateway: IPv4Address?) {
        self.hostname = hostname; self.name = name; self.address = address; self.gateway = gateway
    }

    public static func == (a: Self, b: Self) -> Bool { a.rendered == b.rendered }

    /// The hosts lines of services: address, then names.
    public static func serviceLines(_ services: [(IPv4Address, [String])]) -> String {
        var s = ""
        for (ip, n) in services { s += "\(ip)\t\(n.joined(separator: " "))\n" }
        return s
    }

    /// Whether `text` has `line` (ending with a newline) as one of its lines, starting at its
    /// beginning or right after a newline. Concrete types, one pass: a hosts file at 1,000
    /// services is ~60 KB and `service create` checks every container's.
    public static func contains(line: [UInt8], in text: [UInt8]) -> Bool {
        guard !line.isEmpty, text.count >= line.count else { return false }
        return text.withUnsafeBufferPointer { t in
            line.withUnsafeBufferPointer { l in
                var i = 0
                while i + l.count <= t.count {
                    var k = 0
                    while k < l.count && t[i + k] == l[k] { k += 1 }
                    if k == l.count { return true }
                    while i < t.count && t[i] != 10 { i += 1 }
                    i += 1
                }
                return false
            }
        }
    }

    public var rendered: String {
        var s = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        var own = [hostname]
        for n in [name] + aliases where !own.contains(n) { own.append(n) }
        let names = own.joined(separator: " ")
        if let a = address { s += "\(a)\t\(names)\n" } else { s += "127.0.1.1\t\(names)\n" }
        for a in moreAddresses where a != address { s += "\(a)\t\(names)\n" }
        if let g = gateway { s += "\(g)\thost.hutch.internal\n" }
        for (ip, n) in extraHosts { s += "\(ip)\t\(n)\n" }
        for (ip, n) in peers.sorted(by: { $0.0 < $1.0 }) where !n.isEmpty {
            s += "\(ip)\t\(n.joined(separator: " "))\n"
        }
        s += services
        return s
    }

}

public enum ResolvConf {
    /// The host's resolv.conf minus nameservers on loopback (127.0.0.0/8, ::1), which a container
    /// in its own network namespace cannot reach (systemd-resolved's 127.0.0.53, dnsmasq...).
    /// `dns` (`--dns`): these nameservers instead of the host's (its search and options stay),
    /// as Docker does.
    public static func forContainer(host: String, dns: [IPv4Address] = []) -> String {
        var out = [Substring]()
        for line in host.split(separator: "\n", omittingEmptySubsequences: false) {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if words.count >= 2, words[0] == "nameserver" {
                let ns = words[1]
                if !dns.isEmpty || ns == "::1" || IPv4Address(ns)?.isLoopback == true { continue }
            }
            out.append(line)
        }
        var s = out.joined(separator: "\n")
        if !s.isEmpty && !s.hasSuffix("\n") { s += "\n" }
        for d in dns { s += "nameserver \(d)\n" }
        return s
    }
}
