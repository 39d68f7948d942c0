import HutchOS
/// The options of `network create` and `pod create`, checked without the store or the host.
public struct NetworkOptions: Sendable {
    public var name: String
    public var subnet: CIDRv4?
    public var gateway: IPv4Address?
    public var isInternal = false
    public var bridge: String?
    public init(name: String) { self.name = name }

    /// The checks that need neither the store nor the host's routes.
    public func validate() throws {
        try Validate.name(name, flag: "network name")
        if ["bridge", "host", "none", "default"].contains(name) {
            throw HutchError("network name \"\(name)\" is reserved: pick another name")
        }
        if let b = bridge, !(1...15).contains(b.utf8.count) || !b.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "/") }) {
            throw HutchError("invalid --bridge \"\(b)\": an interface name of 1-15 printable characters without '/'")
        }
        if let s = subnet, let r = s.specialPurposeOverlap {
            throw HutchError("invalid --subnet \(s): it overlaps the special-purpose range \(r); use a private range such as 10.90.0.0/24 or 172.30.0.0/16")
        }
        if let s = subnet, s.prefix > 30 { throw HutchError("invalid --subnet \(s): use a prefix of /30 or shorter") }
        if let s = subnet, !s.isNetworkAddress {
            throw HutchError("invalid --subnet \(s): it has host bits set; did you mean \(s.subnet)?")
        }
        if gateway != nil && subnet == nil { throw HutchError("--gateway needs --subnet") }
    }

    /// The options given that an existing network does not have (`network create --ignore`).
    public func differences(from n: NetworkRecord) -> [String] {
        var out: [String] = []
        if let s = subnet, s.subnet != n.subnet { out.append("--subnet \(n.subnet), not \(s.subnet)") }
        if let g = gateway, g != n.gateway { out.append("--gateway \(n.gateway), not \(g)") }
        if isInternal != n.isInternal { out.append(n.isInternal ? "it is --internal" : "it is not --internal") }
        if let b = bridge, b != n.bridge { out.append("--bridge \(n.bridge), not \(b)") }
        return out
    }
}

public struct PodOptions: Sendable {
    public var name: String?
    public var hostname: String?
    public var network: NetworkMode = .bridge("bridge")
    public var publish: [PublishSpec.Parsed] = []
    /// `--label`, `--label-file`.
    public var labels = Labels()
    /// `--replace`: remove a pod of the same name first (force).
    public var replace = false
    /// `--memory`, `--cpus`, ... : the pod's cgroup, the parent of its containers' (as
    /// Kubernetes' pod cgroups): together they get no more than this.
    public var limits = Sandbox.Limits()
    /// `-v/--volume`: bind volumes of the pod, which every container in it gets (Podman's).
    public var volumes: [Sandbox.Volume] = []
    public init() {}

    public func validate() throws {
        try limits.validate()
        var targets = Set<String>()
        for t in volumes.map(\.target) where !targets.insert(t).inserted { throw HutchError("duplicate mount point \(t)") }
        if let n = name { try Validate.name(n) }
        if replace && name == nil { throw HutchError("--replace needs --name: it replaces the pod of that name") }
        if let h = hostname { try Validate.hostname(h) }
        if case .container = network { throw HutchError("a pod cannot use --network container:...: it owns its network") }
    }
}


/// Options a command checks on their own, before the store is opened.
public protocol CheckedOptions: Sendable {
    func validate() throws
}

/// Options that passed `validate()`: only `validated()` makes one, so a command checks its
/// options once and Runtime (which takes only these) never checks them again.
public struct Validated<Options: CheckedOptions>: Sendable {
    public let options: Options
    fileprivate init(_ o: Options) { options = o }
}

extension CheckedOptions {
    public func validated() throws -> Validated<Self> {
        try validate()
        return Validated(self)
    }
}

extension RunOptions: CheckedOptions {}
extension PodOptions: CheckedOptions {}
extension NetworkOptions: CheckedOptions {}
