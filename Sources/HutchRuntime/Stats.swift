import HutchModel
import HutchOS

/// `hutch stats`: which containers, and their cgroups' usage.
extension Runtime {
    /// The containers named (as given, in order), or with no names every running one (`all`:
    /// every one), each with the word it goes by in the CONTAINER column.
    public func statsTargets(_ refs: [String], all: Bool) throws -> [(given: String, record: ContainerRecord)] {
        if refs.isEmpty { return try containers(all: all).map { ($0.name, $0) } }
        return try refs.map { ($0, try container($0)) }
    }

    /// The container's usage now (zeros for one that does not run: its cgroups are gone).
    public func statsSample(_ c: ContainerRecord) -> Cgroups.Sample {
        c.status == .running ? Cgroups.sample(c.sandbox.cgroups) : Cgroups.Sample()
    }
}
