/// Opens a memory image, choosing the reader by the file's first bytes.
public enum ImageOpener {
    public static func open(_ path: String) throws -> CoreImage {
        let source = try FileSource(path: path)
        if source.size == 0 {
            throw FormatError(.truncated, file: path, "empty file, expected a memory image (ELF core or kdump)")
        }
        let head = try source.read(at: 0, count: Int(min(source.size, 16)))
        if head.starts(with: ElfHeader.magic) {
            return try ElfCore(source: source)
        }
        if head.starts(with: Array(KdumpHeader.signature.utf8)) {
            return try KdumpImage(source: source)
        }
        if head.starts(with: Array(FlattenedFile.signature.utf8)) {
            return try KdumpImage(flattened: FlattenedFile(source: source))
        }
        let shown = head.prefix(8).map { String($0, radix: 16).leftPadded(2) }.joined(separator: " ")
        throw FormatError(.badMagic, file: path, offset: 0,
                          "not a memory image: expected an ELF core (7f 45 4c 46), a kdump-compressed dump (\"KDUMP   \") or a flattened makedumpfile stream (\"makedumpfile\"); found \(shown)")
    }
}

