import HutchModel
import HutchOS

extension IptablesFirewall {
    public func applyServices(_ changes: [ServiceChange], hairpinAdd: [IPv4Address], hairpinRemove: [IPv4Address]) throws {
        if changes.isEmpty && hairpinAdd.isEmpty && hairpinRemove.isEmpty { return }
        throw HutchError("services are not available with the iptables firewall backend yet: use --firewall nftables")
    }
    public func replaceServices(_ all: [ServiceState]) throws {
        if all.isEmpty { return }
        throw HutchError("services are not available with the iptables firewall backend yet: use --firewall nftables")
    }
}
