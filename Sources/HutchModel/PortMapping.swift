import HutchOS
/// A published port: `-p [hostIP:][hostPort:]containerPort[/tcp|udp]`, one value per port
/// (ranges are expanded by the parser). Constructed only through `PublishSpec.parse`, so an
/// invalid mapping never exists as a value.
public struct PortMapping: Hashable, Sendable, CustomStringConvertible {
    public enum Proto: String, Sendable, CaseIterable { case tcp, udp }

    /// nil: every address of the host (0.0.0.0).
    public var hostIP: IPv4Address?
    /// 0 until a random free port is picked.
    public var hostPort: UInt16
    public var containerPort: UInt16
    public var proto: Proto

    public init(hostIP: IPv4Address?, hostPort: UInt16, containerPort: UInt16, proto: Proto) {
        self.hostIP = hostIP; self.hostPort = hostPort; self.containerPort = containerPort; self.proto = proto
    }

    public var hostIPString: String { hostIP?.description ?? "0.0.0.0" }
    /// `8000/tcp -> 0.0.0.0:8080`, as `docker port` prints it.
    public var description: String { "\(containerPort)/\(proto.rawValue) -> \(hostIPString):\(hostPort)" }
}

public enum PublishSpec {
    /// Parses one `-p` value into mappings. A host-port range with a single container port
    /// (`8000-8010:80`) yields one mapping whose host port is picked from that range later;
    /// that range comes back in `hostRange`.
    public struct Parsed: Equatable, Sendable {
        public var mappings: [PortMapping]
        public var hostRange: ClosedRange<UInt16>?
        /// Mappings already resolved (a container's recorded ports, reserved again by `start`).
        public init(mappings: [PortMapping], hostRange: ClosedRange<UInt16>? = nil) {
            self.mappings = mappings; self.hostRange = hostRange
        }
    }

    public static func parse(_ spec: String) throws -> Parsed {
        func bad(_ why: String) -> HutchError { HutchError("invalid --publish \"\(spec)\": \(why)") }

        let (body, given, suffix) = PortMapping.Proto.split(Substring(spec))
        guard let proto = given else { throw bad("unknown protocol \"\(suffix)\" (use tcp or udp)") }
        if body.hasPrefix("[") { throw bad("IPv6 host addresses are not supported; use an IPv4 address") }
        let parts = body.split(separator: ":", omittingEmptySubsequences: false)
        let ipPart: Substring?, hostPart: Substring?, ctrPart: Substring
        switch parts.count {
        case 1: (ipPart, hostPart, ctrPart) = (nil, nil, parts[0])
        case 2: (ipPart, hostPart, ctrPart) = (nil, parts[0], parts[1])
        case 3: (ipPart, hostPart, ctrPart) = (parts[0], parts[1], parts[2])
        default: throw bad("expected [hostIP:][hostPort:]containerPort[/protocol]")
        }
        var hostIP: IPv4Address?
        if let ip = ipPart, !ip.isEmpty {
            guard let a = IPv4Address(ip) else { throw bad("\"\(ip)\" is not an IPv4 address") }
            if !a.isUnspecified { hostIP = a }
        }
        guard !ctrPart.isEmpty else { throw bad("the container port is missing") }
        let ctr = try range(ctrPart, bad)
        var host: ClosedRange<UInt16>?
        if let h = hostPart, !h.isEmpty { host = try range(h, bad) }

        var out: [PortMapping] = []
        var pickFrom: ClosedRange<UInt16>?
        if let h = host {
            if h.count == ctr.count {
                for (hp, cp) in zip(h, ctr) { out.append(PortMapping(hostIP: hostIP, hostPort: hp, containerPort: cp, proto: proto)) }
            } else if ctr.count == 1 {
                out.append(PortMapping(hostIP: hostIP, hostPort: 0, containerPort: ctr.lowerBound, proto: proto))
                pickFrom = h
            } else {
                throw bad("the host range (\(h.count) ports) and the container range (\(ctr.count) ports) differ in length")
            }
        } else {
            for cp in ctr { out.append(PortMapping(hostIP: hostIP, hostPort: 0, containerPort: cp, proto: proto)) }
        }
        return Parsed(mappings: out, hostRange: pickFrom)
    }

    /// `8080` or `8000-8010`: ports 1–65535, start <= end.
    static func range(_ s: Substring, _ bad: (String) -> HutchError) throws -> ClosedRange<UInt16> {
        let ends = s.split(separator: "-", omittingEmptySubsequences: false)
        guard ends.count <= 2 else { throw bad("\"\(s)\" is not a port or a port range") }
        let a = try port(ends[0], bad)
        let b = ends.count == 2 ? try port(ends[1], bad) : a
        guard a <= b else { throw bad("the range \(s) ends before it starts") }
        return a...b
    }
}

extension PublishSpec {
    /// One port number, 1–65535 (`-p`, `--expose`, a service's `--port`).
    static func port(_ p: Substring, _ bad: (String) -> HutchError) throws -> UInt16 {
        guard !p.isEmpty, p.count <= 5, p.allSatisfy({ $0.isASCII && $0.isNumber }), let v = Int(p) else {
            throw bad("\"\(p)\" is not a port number")
        }
        guard (1...65535).contains(v) else { throw bad("port \(v) is out of range (1-65535)") }
        return UInt16(v)
    }
}

extension PortMapping.Proto {
    /// `SPEC[/tcp|/udp]`: the spec without its protocol suffix and the protocol (tcp without
    /// one); nil and the suffix when it names no protocol.
    static func split(_ spec: Substring) -> (body: Substring, proto: Self?, suffix: Substring) {
        guard let slash = spec.lastIndex(of: "/") else { return (spec, .tcp, "") }
        let suffix = spec[spec.index(after: slash)...]
        return (spec[..<slash], Self(rawValue: suffix.lowercased()), suffix)
    }
}

/// One published port as the firewall needs it: plain data, so rendering is a pure function that
/// golden tests can pin. Rules are derived from the store's reservations, so they can always be
/// rebuilt (`hutch network reload`).
public struct PortForward: Hashable, Sendable {
    /// The container (or pod infra container) id; every rule/element carries it.
    public var owner: String
    public var mapping: PortMapping
    public var containerIP: IPv4Address
    /// The bridge network the container is on (hairpin and localhost rules need the bridge).
    public var network: BridgeNetwork

    public init(owner: String, mapping: PortMapping, containerIP: IPv4Address, network: BridgeNetwork) {
        self.owner = owner; self.mapping = mapping; self.containerIP = containerIP; self.network = network
    }
}
