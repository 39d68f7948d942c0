import HutchOS
/// IPv4 value types. Parsing validates, so an invalid address can never exist as a value.

public struct IPv4Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    /// Parses dotted-quad notation strictly: four decimal octets, no leading zeros, no spaces.
    public init?(_ string: some StringProtocol) {
        let parts = string.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }),
                  !(p.count > 1 && p.first == "0"), let o = UInt32(p), o <= 255 else { return nil }
            v = v << 8 | o
        }
        value = v
    }

    public var octets: [UInt8] { [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }
    public var description: String { octets.map(String.init).joined(separator: ".") }
    public var isLoopback: Bool { value >> 24 == 127 }
    public var isUnspecified: Bool { value == 0 }
    public static func < (a: Self, b: Self) -> Bool { a.value < b.value }

    /// Docker-style MAC derived from the address: 02:42 followed by the four octets.
    public var derivedMAC: String {
        (["02", "42"] + octets.map { hex2($0) }).joined(separator: ":")
    }
}


/// An IPv4 address with a prefix length, e.g. 10.87.0.1/16 (an interface address) or 10.87.0.0/16 (a subnet).
public struct CIDRv4: Hashable, Sendable, CustomStringConvertible {
    public var address: IPv4Address
    public var prefix: Int

    public init(address: IPv4Address, prefix: Int) {
        precondition((0...32).contains(prefix))
        self.address = address; self.prefix = prefix
    }

    public init?(_ string: some StringProtocol) {
        let parts = string.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = IPv4Address(parts[0]),
              parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let p = Int(parts[1]), (0...32).contains(p),
              !(parts[1].count > 1 && parts[1].first == "0") else { return nil }
        address = a; prefix = p
    }

    public var mask: UInt32 { prefix == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefix) }
    public var network: IPv4Address { IPv4Address(address.value & mask) }
    public var broadcast: IPv4Address { IPv4Address(address.value | ~mask) }
    /// The subnet this address belongs to, e.g. 10.87.0.1/16 -> 10.87.0.0/16.
    public var subnet: CIDRv4 { CIDRv4(address: network, prefix: prefix) }
    public var isNetworkAddress: Bool { address == network }
    public var firstHost: IPv4Address { IPv4Address(network.value + (prefix >= 31 ? 0 : 1)) }
    public var lastHost: IPv4Address { IPv4Address(broadcast.value - (prefix >= 31 ? 0 : 1)) }
    public func contains(_ a: IPv4Address) -> Bool { a.value & mask == network.value }
    public func overlaps(_ o: CIDRv4) -> Bool {
        let m = prefix < o.prefix ? mask : o.mask
        return address.value & m == o.address.value & m
    }
    public var description: String { "\(address)/\(prefix)" }
}

extension CIDRv4 {
    /// Special-purpose ranges (RFC 6890) a bridge network must not use: "this network", loopback,
    /// link-local, multicast, reserved and the limited broadcast address. A network there breaks
    /// every `run` (multicast cannot be a host address) or points the gateway at the container's
    /// own loopback.
    public static let specialPurpose: [(CIDRv4, String)] = [
        (CIDRv4("0.0.0.0/8")!, "\"this network\""), (CIDRv4("127.0.0.0/8")!, "loopback"),
        (CIDRv4("169.254.0.0/16")!, "link-local"), (CIDRv4("224.0.0.0/4")!, "multicast"),
        (CIDRv4("240.0.0.0/4")!, "reserved"), (CIDRv4("255.255.255.255/32")!, "limited broadcast"),
    ]

    /// The special-purpose range this subnet overlaps, if any, as "224.0.0.0/4 (multicast)".
    public var specialPurposeOverlap: String? {
        Self.specialPurpose.first { $0.0.overlaps(self) }.map { "\($0.0) (\($0.1))" }
    }
}
