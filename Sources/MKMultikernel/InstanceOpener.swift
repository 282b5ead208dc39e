import MKFormat
import MKMemory
import MKDebugInfo

/// Opens a spawn kernel for debugging: through its `kcore` (the debug
/// interface), or — where the kernel lacks it, as upstream does today —
/// through the host's `/proc/kcore` and the instance's `/proc/iomem`
/// regions, finding VMCOREINFO by scanning them.
public enum InstanceOpener {
    public struct Opened {
        public var target: Target
        /// How it was opened, for the user.
        public var notes: [String]
        public var viaFallback: Bool
    }

    public static func open(_ instance: Instance, kernfs: Kernfs, options: Target.Options = Target.Options()) throws -> Opened {
        let status = instance.status
        guard status.hasKernel else { throw MultikernelError.noKernel(instance.name, status: status.rawValue) }
        if let kcore = instance.kcorePath {
            let target = try Target(imagePath: kcore, options: options)
            return Opened(target: target, notes: ["reading \(kcore)" + (status == .active ? " (live)" : "")], viaFallback: false)
        }
        let iomem = try kernfs.iomem()
        let regions = iomem.regions(of: instance.name)
        guard !regions.isEmpty else {
            throw MultikernelError.missingFile(instance.file("kcore"),
                                               purpose: "a kcore, and \(kernfs.procDirectory)/iomem lists no mk-instance-*-\(instance.name)-region-* ranges to fall back on")
        }
        let host = try ImageOpener.open(kernfs.hostKcorePath)
        let image = try InstanceRegionImage(host: host, regions: regions, instanceName: instance.name)
        guard image.vmcoreInfo != nil else {
            throw MultikernelError.badFormat(kernfs.hostKcorePath, detail: "no VMCOREINFO note found in \(instance.name)'s memory regions; cannot locate its kernel")
        }
        let target = try Target(image: image, options: options)
        var notes = ["\(instance.file("kcore")) is missing: reading \(instance.name)'s \(regions.count) region(s) from /proc/iomem through \(kernfs.hostKcorePath)"]
        if let at = image.foundAt { notes.append("VMCOREINFO found by scanning the regions, at physical \(hex(at))") }
        // The only upstream route to a stopped instance's registers.
        image.adopt(CrashNotes.read(target))
        if let line = image.registersLine { notes.append("registers: " + line) }
        if let line = image.noRegistersLine { notes.append(line) }
        return Opened(target: target, notes: notes, viaFallback: true)
    }
}
