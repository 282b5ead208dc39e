import MKDebugInfo

/// `info types [REGEX]`, as gdb's: the types of the DWARF name index, sorted, matching REGEX.
enum InfoTypesCommand {
    static let spec = CommandSpec(
        name: "types", summary: "the types the debug info defines, sorted, those matching a POSIX REGEX",
        usage: "info types [REGEX]", examples: ["info types ^task_struct$"],
        arguments: [NameListing.argument()], json: NameListing.fields
    ) { args, session in
        try NameListing.list("types", kinds: [.structure, .union, .enumeration, .typedef, .base], regex: args.argument("REGEX"), session)
    }
}
