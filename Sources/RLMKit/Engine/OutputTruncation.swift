/// How long code output is cut before the root model sees it.
enum OutputTruncation {
    /// Joins the kept head and tail of a stream, with a note saying how much was cut between them.
    static func join(_ text: CapturedText) -> String {
        let kept = text.head.count + text.tail.count
        guard text.total > kept else { return text.head + text.tail }
        let cut = text.total - kept
        return text.head + "\n[… \(cut) characters cut; print less, or slices …]\n" + text.tail
    }

    /// Cuts `text` to about `limit` characters, keeping its start and end.
    static func clip(_ text: String, limit: Int) -> String {
        guard text.count > limit else { return text }
        let tailLength = limit / 4
        let head = text.prefix(limit - tailLength)
        let tail = text.suffix(tailLength)
        return join(CapturedText(head: String(head), tail: String(tail), total: text.count))
    }
}
