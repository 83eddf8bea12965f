/// `s` with the characters a terminal would act on (C0 controls, DEL, C1
/// controls, line and paragraph separators) written as `\u{…}` escapes, so a
/// hostile array name, metadata key or file name cannot move the cursor,
/// recolour or rewrite the report (`\r…ok:` over a failure line) when text
/// output goes to a terminal. `\` is left alone; JSON output escapes on its own.
func terminalSafe(_ s: String) -> String {
    guard s.unicodeScalars.contains(where: isTerminalControl) else { return s }
    var out = ""
    for u in s.unicodeScalars {
        if isTerminalControl(u) {
            out += "\\u{" + String(u.value, radix: 16) + "}"
        } else {
            out.unicodeScalars.append(u)
        }
    }
    return out
}

private func isTerminalControl(_ u: Unicode.Scalar) -> Bool {
    u.value < 0x20 || (0x7F ... 0x9F).contains(u.value) || u.value == 0x2028 || u.value == 0x2029
}
