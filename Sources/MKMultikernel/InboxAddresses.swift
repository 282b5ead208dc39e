import MKFormat
import MKDebugInfo
import MKValues
import MKKernel

/// Where the inboxes are according to the host kernel's own memory, for
/// kernels without `ipi_buffer` files: `mk_self->ipi_phys` (the host's
/// inbox) and `ipi_phys` of every `struct mk_instance` on
/// `mk_instance_list`, read through the host's `/proc/kcore` with the host
/// vmlinux's DWARF (offsets never hard-coded).
public struct InboxAddresses {
    /// The host's own inbox.
    public var host: UInt64?
    /// Instance name → inbox (0 when none is allocated).
    public var instances: [String: UInt64] = [:]
    /// `sizeof(struct mk_shared_data)` in the host kernel.
    public var size: UInt64?
    public var warnings: [String] = []

    /// Reads them through `target` (the host's kcore). Throws, saying why,
    /// when the target has no vmlinux or its DWARF has no multikernel types.
    public static func read(from target: Target) throws -> InboxAddresses {
        let debugInfo = try target.requireDebugInfo()
        guard let instanceType = debugInfo.findType("struct mk_instance"), instanceType.member(named: "ipi_phys") != nil else {
            throw MultikernelError.badFormat(debugInfo.vmlinux.path, detail: "the host vmlinux's DWARF has no struct mk_instance with ipi_phys")
        }
        let kernel = Kernel(target: target, evaluator: Evaluator(types: debugInfo, memory: target.memory, symbols: target.symbols))
        var out = InboxAddresses()
        out.size = debugInfo.findType("struct mk_shared_data")?.byteSize
        do {
            let me = try kernel.object("mk_self")
            if try me.unsigned() != 0 {
                out.host = try me.deref()["ipi_phys"].unsigned()
            } else {
                out.warnings.append("mk_self is NULL: the host kernel has no multikernel record yet")
            }
        } catch {
            out.warnings.append("cannot read mk_self->ipi_phys: \(error)")
        }
        do {
            let head = try kernel.address(of: "mk_instance_list")
            let linkOffset = try kernel.offset(of: "list", in: instanceType)
            let walk = ListWalker(memory: target.memory, limit: 4096).walk(head: head)
            out.warnings += walk.warnings.map { "mk_instance_list: \($0)" }
            for node in walk.nodes {
                let inst = kernel.object(instanceType, at: node &- linkOffset)
                guard let name = try? inst["name"].string(limit: 256), !name.isEmpty else { continue }
                out.instances[name] = try? inst["ipi_phys"].unsigned()
            }
        } catch {
            out.warnings.append("cannot walk mk_instance_list: \(error)")
        }
        return out
    }
}
