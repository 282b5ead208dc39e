/// Sizes, rates and fixed-point numbers for messages (no Foundation).

/// MiB per second.
func rate(_ bytes: UInt64, _ seconds: Double) -> Double {
    seconds > 0 ? Double(bytes) / 1_048_576 / seconds : 0
}

/// A size for messages: bytes, KiB, MiB or GiB.
func sizeText(_ n: UInt64) -> String {
    if n >= 1 << 30 && n % (1 << 30) == 0 { return "\(n >> 30) GiB" }
    if n >= 1 << 30 { return fixed(Double(n) / Double(1 << 30), 1) + " GiB" }
    if n >= 1 << 20 { return fixed(Double(n) / Double(1 << 20), 1) + " MiB" }
    if n >= 1 << 10 { return fixed(Double(n) / Double(1 << 10), 1) + " KiB" }
    return "\(n) bytes"
}

/// `value` with `digits` digits after the point (no Foundation).
func fixed(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "?" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let n = Int64((abs(value) * scale).rounded())
    let sign = value < 0 && n != 0 ? "-" : ""
    guard digits > 0 else { return sign + String(n) }
    let whole = n / Int64(scale), frac = String(n % Int64(scale))
    return sign + String(whole) + "." + String(repeating: "0", count: digits - frac.count) + frac
}
