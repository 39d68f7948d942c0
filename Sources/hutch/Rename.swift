import HutchRuntime
import HutchModel
import HutchOS
import HutchCLI

enum Rename {
    static let old = CLIArgument("CONTAINER", .one, "The container (name or id).")
    static let new = CLIArgument("NEW_NAME", .one, "Its new name.")

    static let command = CLICommand(
        "rename", abstract: "Rename a container (running or not); its names on its networks follow.",
        discussion: "Example: hutch rename web web-old", arguments: [old, new]
    ) { a in
        try Global.runtime(a).rename(a.one(old), to: a.one(new))
    }
}
