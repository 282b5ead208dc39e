import MKMemory

extension KernelMemory: ValueMemory {}
