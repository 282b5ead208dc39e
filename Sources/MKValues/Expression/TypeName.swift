/// `const` / `volatile`.
public struct TypeQualifiers: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let const = TypeQualifiers(rawValue: 1 << 0)
    public static let volatile = TypeQualifiers(rawValue: 1 << 1)

    /// `""`, `"const"`, `"volatile"` or `"const volatile"`.
    public var description: String {
        var words: [String] = []
        if contains(.const) { words.append("const") }
        if contains(.volatile) { words.append("volatile") }
        return words.joined(separator: " ")
    }
}

/// The C arithmetic and void types, after normalising the keyword soup:
/// `long unsigned int` and `unsigned long` are both `.unsignedLong`,
/// `signed` is `.int`, `short int` is `.short`.
public enum PrimitiveType: Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case void
    case bool
    /// Plain `char`, whose signedness is the target's choice (signed on x86-64).
    case char
    case signedChar
    case unsignedChar
    case short
    case unsignedShort
    case int
    case unsignedInt
    case long
    case unsignedLong
    case longLong
    case unsignedLongLong
    case float
    case double
    case longDouble

    /// The canonical C spelling, as gdb prints it.
    public var description: String {
        switch self {
        case .void: return "void"
        case .bool: return "_Bool"
        case .char: return "char"
        case .signedChar: return "signed char"
        case .unsignedChar: return "unsigned char"
        case .short: return "short"
        case .unsignedShort: return "unsigned short"
        case .int: return "int"
        case .unsignedInt: return "unsigned int"
        case .long: return "long"
        case .unsignedLong: return "unsigned long"
        case .longLong: return "long long"
        case .unsignedLongLong: return "unsigned long long"
        case .float: return "float"
        case .double: return "double"
        case .longDouble: return "long double"
        }
    }
}

/// What a type name's specifiers name before any `*` or `[N]`.
public enum BaseType: Hashable, Sendable, CustomStringConvertible {
    case primitive(PrimitiveType)
    /// `struct tag`
    case structure(String)
    /// `union tag`
    case union(String)
    /// `enum tag`
    case enumeration(String)
    /// A typedef name such as `u64` or `pid_t`: any identifier in type position.
    case typedef(String)

    public var description: String {
        switch self {
        case .primitive(let p): return p.description
        case .structure(let tag): return "struct " + tag
        case .union(let tag): return "union " + tag
        case .enumeration(let tag): return "enum " + tag
        case .typedef(let name): return name
        }
    }
}

/// One step from a type to a derived type.
public enum TypeDerivation: Hashable, Sendable {
    /// Pointer to the type so far; the qualifiers are those written after the
    /// `*` and apply to the pointer itself (`char *const` is a const pointer).
    case pointer(TypeQualifiers)
    /// Array of the type so far; `nil` for `[]`.
    case array(UInt64?)
}

/// A C type name, as written in a cast, `sizeof(…)`, `offsetof`,
/// `container_of` or `ptype`/`whatis`.
///
/// The type is `base` qualified by `qualifiers`, then each of `derivations`
/// applied in order, innermost first. To build it, fold left:
///
///     var t = resolve(base).qualified(qualifiers)
///     for d in derivations {
///         switch d {
///         case .pointer(let q): t = pointer(to: t).qualified(q)
///         case .array(let n): t = array(of: t, count: n)
///         }
///     }
///
/// Examples (`derivations` listed innermost first):
/// - `char *`             → base char, [pointer]
/// - `const char *const`  → base char, qualifiers const, [pointer(const)]
/// - `int *[3]`           → base int, [pointer, array(3)]   (array of 3 pointers)
/// - `int (*)[3]`         → base int, [array(3), pointer]   (pointer to array)
/// - `int [2][3]`         → base int, [array(3), array(2)]
public struct TypeName: Hashable, Sendable, CustomStringConvertible {
    public var base: BaseType
    /// Qualifiers written among the specifiers (`const char`, `char const`).
    public var qualifiers: TypeQualifiers
    /// Innermost first; see the type's documentation.
    public var derivations: [TypeDerivation]
    /// The whole type name in the input.
    public var range: SourceRange
    /// Just the specifiers (`unsigned long`, `struct task_struct`, `u64`),
    /// for errors such as "no struct named …".
    public var baseRange: SourceRange

    public init(base: BaseType, qualifiers: TypeQualifiers = [], derivations: [TypeDerivation] = [],
                range: SourceRange, baseRange: SourceRange? = nil) {
        self.base = base
        self.qualifiers = qualifiers
        self.derivations = derivations
        self.range = range
        self.baseRange = baseRange ?? range
    }

    /// Canonical C: `struct task_struct *`, `const char *const`,
    /// `int (*)[3]`, `char [16]`, `unsigned long`.
    public var description: String {
        // Build the abstract declarator from the outermost derivation inward.
        var declarator = ""
        for derivation in derivations.reversed() {
            switch derivation {
            case .pointer(let q):
                if q.isEmpty {
                    declarator = "*" + declarator
                } else {
                    declarator = "*" + q.description + (declarator.isEmpty ? "" : " " + declarator)
                }
            case .array(let count):
                if declarator.hasPrefix("*") { declarator = "(" + declarator + ")" }
                declarator += "[" + (count.map { String($0) } ?? "") + "]"
            }
        }
        var text = qualifiers.isEmpty ? base.description : qualifiers.description + " " + base.description
        if !declarator.isEmpty { text += " " + declarator }
        return text
    }
}
