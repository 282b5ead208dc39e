import MKDebugInfo

/// `info functions [REGEX]`, as gdb's: the functions of the DWARF name index, sorted, matching REGEX.
enum InfoFunctionsCommand {
    static let spec = CommandSpec(
        name: "functions", summary: "the functions the debug info defines, sorted, those matching a POSIX REGEX",
        usage: "info functions [REGEX]", examples: ["info functions ^panic", "info functions ^do_exit$"],
        arguments: [NameListing.argument()], json: NameListing.fields
    ) { args, session in
        try NameListing.list("functions", kinds: [.function], regex: args.argument("REGEX"), session)
    }
}
