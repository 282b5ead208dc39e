import MKDebugInfo

/// `info variables [REGEX]`, as gdb's: the variables of the DWARF name index, sorted, matching REGEX.
enum InfoVariablesCommand {
    static let spec = CommandSpec(
        name: "variables", summary: "the variables the debug info defines, sorted, those matching a POSIX REGEX",
        usage: "info variables [REGEX]", examples: ["info variables ^init_task$"],
        arguments: [NameListing.argument()], json: NameListing.fields
    ) { args, session in
        try NameListing.list("variables", kinds: [.variable], regex: args.argument("REGEX"), session)
    }
}
