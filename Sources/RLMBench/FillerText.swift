/// Plain prose that fills a context to a given size around what a task hides in it.
enum FillerText {
    static let subjects = ["The committee", "A traveller", "The old library", "Our neighbour", "The river", "A small company",
                           "The orchestra", "The garden", "A careful reader", "The harbour town", "The weather station", "An engineer"]
    static let verbs = ["described", "remembered", "questioned", "repaired", "painted", "measured", "ignored", "praised",
                        "collected", "followed", "studied", "announced"]
    static let objects = ["the long winter", "a forgotten map", "the morning train", "several quiet streets", "the broken clock",
                          "an unfinished letter", "the annual report", "a field of barley", "the northern road", "three wooden boxes",
                          "the market square", "a set of old photographs"]
    static let endings = ["before the season changed.", "with unusual patience.", "as the evening grew cold.",
                          "without telling anyone.", "for the second time that year.", "while the bells rang.",
                          "in a notebook kept for the purpose.", "and nobody seemed surprised."]

    /// About `characters` characters of sentences, drawn from `random`.
    static func make(characters: Int, random: inout SeededRandom) -> String {
        var text = ""
        text.reserveCapacity(characters + 120)
        while text.utf8.count < characters {
            text += random.pick(subjects)
            text += " "
            text += random.pick(verbs)
            text += " "
            text += random.pick(objects)
            text += " "
            text += random.pick(endings)
            text += random.int(in: 0...5) == 0 ? "\n" : " "
        }
        return text
    }
}
