import HutchModel
import HutchOS
import HutchRuntime

/// Services in etcd (issue 16): `PREFIX/services/NAME` (the service as its owner node created
/// it) and `PREFIX/endpoints/NAME/NODE` (the endpoints NODE runs for it), both under the
/// publishing node's lease, so they go with a node that dies or leaves.
extension ClusterKeys {
    public var services: String { prefix + "services/" }
    public var endpoints: String { prefix + "endpoints/" }
    public func service(_ name: String) -> String { services + name }
    public func endpoints(_ service: String, node: String) -> String { endpoints + service + "/" + node }
    /// (service, node) of an endpoints key.
    public func endpointsKey(_ key: String) -> (String, String)? {
        guard key.hasPrefix(endpoints) else { return nil }
        let rest = key.dropFirst(endpoints.count).split(separator: "/")
        return rest.count == 2 ? (String(rest[0]), String(rest[1])) : nil
    }
}

public enum ServiceWire {
    /// `{"AffinityTimeout":…,"ClusterIP":…,"ExternalTrafficPolicy":…,"Labels":[…],"Name":…,"Node":…,
    /// "Ports":["80:8000/tcp:30080"],"Selector":["app=web"],"SessionAffinity":…,"Type":…}`
    public static func service(_ s: ServiceRecord, node: String) -> String {
        JSON.object([
            "Name": .string(s.name), "Node": .string(node), "Type": .string(s.type.rawValue),
            "ClusterIP": .string(s.clusterIP.description), "Selector": .strings(s.selector.entries),
            "Ports": .strings(s.ports.map(\.stored)), "SessionAffinity": .string(s.sessionAffinity.rawValue),
            "AffinityTimeout": .int(Int64(s.affinityTimeout)), "ExternalTrafficPolicy": .string(s.externalTrafficPolicy.rawValue),
            "Labels": .strings(s.labels.entries),
        ]).render()
    }

    /// The service as the other nodes hold it: labelled with its owner's node name.
    public static func service(json text: String) -> (ServiceRecord, String)? {
        guard let j = JSON.parse(text), let name = j["Name"]?.stringValue, let node = j["Node"]?.stringValue,
              let ip = j["ClusterIP"]?.stringValue.flatMap({ IPv4Address($0) }),
              let type = j["Type"]?.stringValue.flatMap(ServiceRecord.Kind.init(rawValue:)) else { return nil }
        var labels = Labels(stored: (j["Labels"]?.arrayValue ?? []).compactMap(\.stringValue))
        try? labels.add("\(Runtime.clusterOwnerLabel)=\(node)")
        let r = ServiceRecord(
            name: name, id: "", type: type, clusterIP: ip,
            selector: ServiceSelector(stored: (j["Selector"]?.arrayValue ?? []).compactMap(\.stringValue)),
            ports: (j["Ports"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(ServicePort.init(stored:)) },
            sessionAffinity: j["SessionAffinity"]?.stringValue.flatMap(ServiceRecord.Affinity.init(rawValue:)) ?? .none,
            affinityTimeout: Int(j["AffinityTimeout"]?.int64Value ?? Int64(ServiceOptions.defaultAffinityTimeout)),
            externalTrafficPolicy: j["ExternalTrafficPolicy"]?.stringValue.flatMap(ServiceRecord.TrafficPolicy.init(rawValue:)) ?? .cluster,
            labels: labels)
        return (r, node)
    }

    /// `[{"Container":…,"ContainerID":…,"IP":…}]`
    public static func endpoints(_ eps: [ServiceEndpoint]) -> String {
        JSON.array(eps.sorted().map { .object(["IP": .string($0.ip.description), "Container": .string($0.container),
                                               "ContainerID": .string($0.containerId)]) }).render()
    }

    public static func endpoints(json text: String, node: String) -> [ServiceEndpoint] {
        (JSON.parse(text)?.arrayValue ?? []).compactMap { e in
            guard let ip = e["IP"]?.stringValue.flatMap({ IPv4Address($0) }) else { return nil }
            return ServiceEndpoint(ip: ip, container: e["Container"]?.stringValue ?? "", containerId: e["ContainerID"]?.stringValue ?? "",
                                   node: node)
        }
    }
}
