import CElf

/// One argument or local variable as DWARF describes it at a code address.
public struct FrameVariableInfo {
    public var name: String
    public var type: CType
    public var isArgument: Bool
    /// How to find its value at the address asked for.
    public var location: LocationDescription
}

/// The variables one frame's function level can see at a code address:
/// its arguments in order, and the locals of every lexical block holding
/// the address, innermost block first, the function's own last.
public struct FrameScopeInfo {
    public var function: String?
    public var arguments: [FrameVariableInfo]
    public var locals: [FrameVariableInfo]
    /// The out-of-line function's `DW_AT_frame_base` at the address
    /// (what `DW_OP_fbreg` is relative to); inlined levels use it too.
    public var frameBase: LocationDescription?
    /// The out-of-line function's name (what a call site calls).
    public var realFunction: String?
}

/// A call site's parameter: the register the callee receives it in and the
/// caller-side expression of its value (`DW_AT_call_value`).
public struct CallSiteParameter: Sendable {
    public var register: Int
    public var value: LocationDescription
}

/// The call whose return address is a caller frame's pc.
public struct CallSiteInfo: Sendable {
    /// The function called, when DWARF names it (`DW_AT_call_origin`).
    public var callee: String?
    public var parameters: [CallSiteParameter]
    /// The caller's frame base, for `DW_OP_fbreg` in the values.
    public var frameBase: LocationDescription?
}

extension DebugInfo {
    /// Variables a DIE tree may hold under one scope before the rest are dropped.
    static let maxScopeVariables = 4096

    /// The scope of function level `level` (0 = innermost inlined function,
    /// as `frameFunctions` counts) at the unrelocated code address `address`;
    /// nil when no function DIE covers it. With `named`, only variables of
    /// that name are described (no other types are resolved).
    public func frameScope(linkAddress address: UInt64, level: Int, named: String? = nil) -> FrameScopeInfo? {
        guard let cu = dwarf.unit(containing: address) else { return nil }
        let chain = DwarfFile.concreteScopes(in: cu, address: address)
        let real = chain.first { $0.tag == DW_TAG_subprogram }
        var blocks: [DIE] = []
        var seen = 0
        for scope in chain {
            switch scope.tag {
            case DW_TAG_lexical_block:
                blocks.append(scope)
            case DW_TAG_inlined_subroutine, DW_TAG_subprogram:
                if seen == level { return describe(function: scope, blocks: blocks, real: real, address: address, named: named) }
                seen += 1
                blocks = []
            default:
                continue
            }
        }
        return nil
    }

    private func describe(function: DIE, blocks: [DIE], real: DIE?, address: UInt64, named: String?) -> FrameScopeInfo {
        var info = FrameScopeInfo(function: functionName(function), arguments: [], locals: [],
                                  frameBase: real?.location(DW_AT_frame_base, at: address),
                                  realFunction: real.flatMap(functionName))
        var count = 0
        func variable(_ die: DIE, argument: Bool) -> FrameVariableInfo? {
            guard count < Self.maxScopeVariables, let name = die.name, named == nil || name == named else { return nil }
            count += 1
            let type = types.typeAttribute(of: die)
            var location = die.location(DW_AT_location, at: address) ?? LocationDescription.none
            if location == .none, let bytes = die.constantValue(size: type.byteSize) { location = .constant(bytes) }
            return FrameVariableInfo(name: name, type: type, isArgument: argument, location: location)
        }
        for block in blocks {
            block.forEachChild { c in
                if c.tag == DW_TAG_variable, let v = variable(c, argument: false) { info.locals.append(v) }
            }
        }
        function.forEachChild { c in
            switch c.tag {
            case DW_TAG_formal_parameter:
                if let v = variable(c, argument: true) { info.arguments.append(v) }
            case DW_TAG_variable:
                if let v = variable(c, argument: false) { info.locals.append(v) }
            default:
                break
            }
        }
        return info
    }

    private func functionName(_ die: DIE) -> String? {
        die.name ?? die.reference(DW_AT_abstract_origin)?.name ?? die.reference(DW_AT_specification)?.name
    }

    /// The call site in the caller whose return address is the unrelocated
    /// `returnAddress` (DWARF 5 `DW_TAG_call_site` with `DW_AT_call_return_pc`,
    /// or GNU's DWARF 4 `DW_TAG_GNU_call_site` with `DW_AT_low_pc`), searched
    /// in every scope holding the call instruction.
    public func callSite(returnLinkAddress returnAddress: UInt64) -> CallSiteInfo? {
        let call = returnAddress &- 1
        guard let cu = dwarf.unit(containing: call) else { return nil }
        let chain = DwarfFile.concreteScopes(in: cu, address: call)
        let real = chain.first { $0.tag == DW_TAG_subprogram }
        for scope in chain {
            var found: DIE?
            scope.forEachChild { c in
                guard found == nil, c.tag == DW_TAG_call_site || c.tag == DW_TAG_GNU_call_site else { return }
                let pc = c.address(DW_AT_call_return_pc) ?? c.address(DW_AT_low_pc)
                if pc == returnAddress { found = c }
            }
            guard let site = found else { continue }
            let origin = site.reference(DW_AT_call_origin) ?? site.reference(DW_AT_abstract_origin)
            var info = CallSiteInfo(callee: origin.flatMap(functionName), parameters: [],
                                    frameBase: real?.location(DW_AT_frame_base, at: call))
            site.forEachChild { p in
                guard p.tag == DW_TAG_call_site_parameter || p.tag == DW_TAG_GNU_call_site_parameter,
                      info.parameters.count < 64,
                      case let .expression(where_)? = p.expression(DW_AT_location), where_.count == 1,
                      let register = Self.registerNumber(where_[0]),
                      let value = p.expression(DW_AT_call_value) ?? p.expression(DW_AT_GNU_call_site_value) else { return }
                info.parameters.append(CallSiteParameter(register: register, value: value))
            }
            return info
        }
        return nil
    }

    /// The register a lone `DW_OP_regN` / `DW_OP_regx` names.
    public static func registerNumber(_ op: DwarfOp) -> Int? {
        if op.atom >= UInt8(DW_OP_reg0) && op.atom <= UInt8(DW_OP_reg31) { return Int(op.atom) - Int(DW_OP_reg0) }
        if op.atom == UInt8(DW_OP_regx), op.number < 1 << 16 { return Int(op.number) }
        return nil
    }
}
