import HutchModel
import HutchOS
/// Docker-style generated names (`adjective_noun`) for containers started without --name.
package enum Names {
    static let adjectives = ["agile", "bold", "brave", "calm", "clever", "cosy", "eager", "fluffy", "gentle", "happy",
                             "jolly", "keen", "lively", "merry", "nimble", "quick", "quiet", "snug", "swift", "tidy"]
    static let nouns = ["rabbit", "hare", "bunny", "kit", "doe", "buck", "warren", "burrow", "clover", "carrot",
                        "meadow", "hedge", "thicket", "dandelion", "fern", "hollow", "lop", "rex", "angora", "dutch"]

    package static func generate(in db: Database) throws -> String {
        var g = SystemRandomNumberGenerator()
        for attempt in 0..<20 {
            var n = "\(adjectives.randomElement(using: &g)!)_\(nouns.randomElement(using: &g)!)"
            if attempt >= 10 { n += "_\(Int.random(in: 1...9999, using: &g))" }
            if try ContainerRecord.fetchCount(db, where: "name = ?", arguments: [n]) == 0 { return n }
        }
        return "hutch_" + String(Sys.randomID().prefix(12))
    }
}
