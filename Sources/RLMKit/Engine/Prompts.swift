import Foundation

/// Facts the prompts are built from.
struct PromptFacts {
    var description: ContextDescription
    var maxIterations: Int
    var maxOutputChars: Int
    var maxConcurrency: Int
    /// Characters one sub-call prompt may hold, from the sub model's window.
    var subCallChars: Int
    var subModelName: String
    /// Levels of child RLMs still available below this one (0: `rlm_query` is a plain sub-call).
    var remainingDepth: Int
    /// Seconds of its own time one cell may run (time waiting on sub-calls not counted).
    var cellTimeoutSeconds: Int
    /// Extra guidance for the root model's family.
    var profile: PromptProfile = .standard
    /// Host tools the code may call.
    var tools: [RLMTool] = []
}

/// Everything the root model is told. Written for this project; the wording is ours.
enum Prompts {
    static func system(_ facts: PromptFacts) -> String {
        let recursion = facts.remainingDepth > 0
            ? "starts a child RLM with its own REPL, whose `context` is the one you pass (or the prompt itself). Use it for a piece that needs several steps of its own."
            : "at this depth behaves exactly like `llm_query(prompt + context)`: a single sub-model call."
        return """
        You answer questions about an input that is far too large for you to read. The input sits in a \
        Python 3 REPL as the variable `context`. You cannot see it; you can only run code that looks at it, and \
        call other language models on pieces of it from inside that code.

        ## The input
        \(describe(facts.description))

        ## How a turn works
        Put Python code in blocks fenced with ```repl (```python works too). Every block in your reply runs, \
        in order, in one interpreter that keeps its variables from turn to turn. Then you are shown what the code \
        printed — stdout and stderr of each block, cut to about \(facts.maxOutputChars) characters each. That \
        printed text is all you ever get back, so print counts, short samples and slices, never the whole \
        context or a big chunk of it. A block that computes for more than \(facts.cellTimeoutSeconds) s is \
        interrupted (time spent waiting on sub-calls does not count), and its unfinished sub-calls are cancelled.

        ## What the REPL offers
        - `context` — the input described above. It is restored if you overwrite it.
        - `llm_query(prompt: str, model: str | None = None) -> str` — one call to a sub-model \
        (\(facts.subModelName)). It knows nothing but `prompt`, so put the question and the text it needs into \
        the prompt. One prompt can hold about \(facts.subCallChars) characters. A failure comes back as a string \
        starting with "Error:"; it does not raise.
        - `llm_query_batched(prompts: list[str], model: str | None = None) -> list[str]` — many sub-calls at \
        once, run concurrently (\(facts.maxConcurrency) at a time), answers in the order of the prompts. Far \
        faster than calling `llm_query` in a loop.
        - `rlm_query(prompt: str, context=None) -> str` and `rlm_query_batched(prompts, contexts=None)` — \
        \(recursion)
        - `SHOW_VARS()` — prints the variables you have made, with types and sizes.
        - `FINAL(value)` — submits `str(value)` as your answer. The run ends when the cell finishes.
        - `FINAL_VAR(name)` — submits the variable called `name` (pass the name as a string). Use this for \
        long answers built in code: they are delivered whole, never cut.
        - `answer` — a dict `{"content": "", "ready": False}`; setting `answer["ready"] = True` submits \
        `answer["content"]`.

        ## A method that works
        1. Look before you read: print the type, the length, the first few hundred characters, and how the \
        input is organised (separators, headers, record layout, keys).
        2. Narrow it down in code first — regular expressions, keyword search, splitting on the structure you \
        found. Code is free; sub-calls cost time and money.
        3. When a model has to read text, cut it into pieces that fit one sub-call, send them all with \
        `llm_query_batched`, keep the answers in a variable, and combine them in code.
        4. Keep intermediate results in variables, not in your replies.
        5. When a result is doubtful, check it with one more sub-call on the evidence you found.
        6. Submit only what your code computed and you saw printed. Build long answers in a variable and \
        submit them with `FINAL_VAR("name")`.

        ## Rules
        - Only code that runs counts. `FINAL(...)` written in prose does nothing, and output you imagine is \
        not output: the real output arrives in the next message.
        - Do not submit in the same reply as code whose result you have not seen yet, unless the submission \
        is computed by that code.
        - You have \(facts.maxIterations) turns. Keep replies short: a line or two of reasoning, then code.
        """ + (facts.profile == .standard ? "" : "\n\n" + facts.profile.guidance) + toolsSection(facts.tools)
    }

    static func describe(_ description: ContextDescription) -> String {
        var lines: [String] = []
        switch description.type {
        case "str":
            lines.append("`context` is a `str` of \(grouped(description.chars ?? 0)) characters in \(grouped(description.lines ?? 0)) lines.")
            if let hint = description.formatHint { lines.append("Its start looks like: \(hint).") }
        case "dict":
            lines.append("`context` is a `dict` of \(grouped(description.items ?? 0)) entries, \(grouped(description.totalChars ?? 0)) characters of values in all.")
            if let first = description.firstItems, !first.isEmpty {
                let shown = first.prefix(10).map { "`\($0.key)` (\(grouped($0.chars)) chars)" }.joined(separator: ", ")
                lines.append("First keys: \(shown)\((description.items ?? 0) > 10 ? ", …" : "").")
            }
            if let largest = description.largestItems, !largest.isEmpty {
                lines.append("Largest entries: " + largest.map { "`\($0.key)` (\(grouped($0.chars)))" }.joined(separator: ", ") + ".")
            }
        case "list":
            let types = description.itemTypes?.joined(separator: ", ") ?? "mixed"
            lines.append("`context` is a `list` of \(grouped(description.items ?? 0)) items (\(types)), \(grouped(description.totalChars ?? 0)) characters in all; the largest item has \(grouped(description.largestItem ?? 0)).")
            if let keys = description.firstItemKeys, !keys.isEmpty {
                lines.append("The first item is a dict with keys: " + keys.map { "`\($0)`" }.joined(separator: ", ") + ".")
            }
        default:
            lines.append("`context` is a `\(description.type)` of about \(grouped(description.size)) characters.")
        }
        if let source = description.source { lines.append("It was loaded as \(source).") }
        if let replaced = description.replacedInvalidUTF8, replaced > 0 {
            lines.append("\(grouped(replaced)) invalid UTF-8 byte sequences were replaced by U+FFFD.")
        }
        for note in description.notes ?? [] { lines.append("Note: \(note).") }
        return lines.joined(separator: "\n")
    }

    static func firstTurn(query: String, maxIterations: Int) -> String {
        """
        The question to answer:
        \(query)

        Turn 1 of \(maxIterations). You have not looked at `context` yet: start by exploring it with code.
        """
    }

    /// What the model sees after its code ran.
    static func feedback(outputs: [String], notes: [String], nextTurn: Int, maxIterations: Int, query: String) -> String {
        var parts: [String] = []
        if !outputs.isEmpty { parts.append(outputs.joined(separator: "\n\n")) }
        parts.append(contentsOf: notes)
        let reminder = OutputTruncation.clip(query, limit: 600)
        parts.append("Turn \(nextTurn) of \(maxIterations). The question: \(reminder)\nContinue, or submit with FINAL / FINAL_VAR from code once your printed results support an answer.")
        return parts.joined(separator: "\n\n")
    }

    /// Block outputs kept to `totalChars` in all, however many blocks a reply had: each gets an equal share
    /// (at least a few hundred characters); blocks past the budget are only counted.
    static func bounded(_ outputs: [String], totalChars: Int) -> [String] {
        guard outputs.reduce(0, { $0 + $1.count }) > totalChars else { return outputs }
        let share = max(400, totalChars / outputs.count)
        let shown = max(1, totalChars / share)
        // Each clip adds a short note of what was cut; leave it room inside the share.
        var kept = outputs.prefix(shown).map { OutputTruncation.clip($0, limit: share - 80) }
        if outputs.count > shown {
            kept.append("[\(outputs.count - shown) more block(s) ran; their output is not shown. Write fewer, larger blocks.]")
        }
        return kept
    }

    static func blockOutput(index: Int, count: Int, outcome: CellOutcome) -> String {
        let label = count > 1 ? "Block \(index + 1) of \(count)" : "Your code"
        var text = "\(label) ran in \(String(format: "%.2f", outcome.seconds)) s."
        if outcome.stdout.isEmpty && outcome.stderr.isEmpty && !outcome.interpreterRestarted {
            text += " It printed nothing."
        }
        if !outcome.stdout.isEmpty { text += "\nstdout:\n\(outcome.stdout)" }
        if !outcome.stderr.isEmpty { text += "\nstderr:\n\(outcome.stderr)" }
        if outcome.interpreterRestarted {
            text += "\nThe interpreter died (\(outcome.deathReason ?? "unknown reason")). A fresh one was started with `context` loaded again, but every variable you had made is gone."
        } else if outcome.timedOut {
            text += "\nThe block ran past its time limit and was interrupted; your variables are kept. Make it do less, or split the work."
        }
        return text
    }

    static let noCodeNudge = """
        Your reply had no ```repl code block and no final answer, so nothing happened, and the turn counts as \
        failed. Write code that makes progress on the question, or submit with FINAL(...) / FINAL_VAR(...) from a \
        code block.
        """

    static let cutOffNote = """
        Your reply was cut off at the output-token limit; an unfinished code block did not run. Write shorter \
        replies: less prose and smaller code blocks. Build long text in variables instead of writing it out.
        """

    static let proseFinalNote = """
        Note: your reply mentions FINAL outside a code block. Only code that runs can submit an answer; nothing \
        was submitted.
        """

    static let imaginedOutputNote = """
        Note: your reply contained text presented as output. Only the output above is real; anything you \
        wrote yourself was ignored.
        """

    static let compactionSystem = """
        You condense the working notes of an analyst who answers a question by running Python code over a large \
        input. Keep every fact that was established, every variable name that holds a result and what it holds, \
        the approaches that failed, and the next steps. Drop the code output that is no longer needed. Write \
        plain prose and short lists, at most about 600 words.
        """

    static func compactionRequest(query: String, transcript: String) -> String {
        "The question being worked on: \(OutputTruncation.clip(query, limit: 2_000))\n\nThe turns to condense:\n\n\(transcript)"
    }

    static func compactedHistory(summary: String, turns: Int) -> String {
        """
        [Earlier work, condensed: \(turns) messages were summarised to stay inside your context window. The full \
        text is in the REPL variable `rlm_history`, a list of {"role", "content"} dicts.]
        \(summary)
        """
    }

    static func lastTurn(query: String) -> String {
        """
        You are out of turns. Reply now with one ```repl block that submits your best answer to the question \
        with FINAL(...) or FINAL_VAR(...), using what your variables already hold. Do not start new work.
        The question: \(OutputTruncation.clip(query, limit: 600))
        """
    }

    private static func grouped(_ number: Int) -> String {
        let digits = String(number)
        var result = ""
        for (index, character) in digits.reversed().enumerated() {
            if index > 0 && index % 3 == 0 { result.append(",") }
            result.append(character)
        }
        return String(result.reversed())
    }
}
