package dev.layercache.deploy;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The fenced code blocks of a Markdown file and the markers that say whether the tests run them
 * (the convention is in docs/testing.md, "The documented commands"):
 *
 * <pre>
 * &lt;!-- run: needs node, layout --&gt;          the test runs the block, with what it needs
 * &lt;!-- not run here: REASON --&gt;               the test leaves it, for this reason
 * </pre>
 *
 * A marker is the last non-blank line before the opening fence. Blocks fenced with no language or
 * with {@code sh}, {@code bash}, {@code shell} or {@code console} are commands and must carry one;
 * anything else a user reads but does not run (output, configuration, code) takes another language
 * ({@code text}, {@code yaml}, {@code java}...), so the classification is always written down.
 */
final class ShellBlocks {
    /** Fence languages that mean "a command a user would run". */
    static final Set<String> COMMAND_LANGUAGES = Set.of("", "sh", "bash", "shell", "console");
    /** What a runnable block may need; {@link ReadmeCommandsTest} provides each. */
    static final Set<String> NEEDS = Set.of("node", "layout", "context", "buildah", "skopeo", "umoci", "docker",
            "promtool");

    private static final Pattern FENCE = Pattern.compile("^(\\s*)(`{3,}|~{3,})\\s*([^\\s`]*).*$");
    private static final Pattern MARKER = Pattern.compile("^\\s*<!--\\s*(run|not run here)\\s*(?::\\s*(.*?))?\\s*-->\\s*$");

    private ShellBlocks() {
    }

    /** How a block is marked. */
    enum Kind { RUN, NOT_RUN, UNMARKED }

    /**
     * One fenced block: {@code line} is the 1-based line of its opening fence; {@code body} its
     * lines between the fences; {@code needs} what a {@code run} marker listed; {@code reason} the
     * {@code not run here} marker's text.
     */
    record Block(String file, int line, String language, String body, Kind kind, Set<String> needs, String reason) {
        boolean isCommand() {
            return COMMAND_LANGUAGES.contains(language);
        }

        String where() {
            return file + ":" + line;
        }

        /** The commands to give bash: a console block keeps only its {@code $ } lines, without the prompt. */
        String script() {
            if (!language.equals("console")) {
                return body;
            }
            StringBuilder sb = new StringBuilder();
            for (String l : body.split("\n", -1)) {
                if (l.startsWith("$ ")) {
                    sb.append(l.substring(2)).append('\n');
                }
            }
            return sb.toString();
        }
    }

    /** Every fenced block of {@code markdown}, in order; {@code file} names it in messages. */
    static List<Block> parse(String file, String markdown) {
        List<Block> blocks = new ArrayList<>();
        String[] lines = markdown.split("\n", -1);
        String lastNonBlank = null;
        for (int i = 0; i < lines.length; i++) {
            Matcher open = FENCE.matcher(lines[i]);
            if (!open.matches()) {
                if (!lines[i].isBlank()) {
                    lastNonBlank = lines[i];
                }
                continue;
            }
            String fence = open.group(2);
            String language = open.group(3).toLowerCase(Locale.ROOT);
            int start = i;
            StringBuilder body = new StringBuilder();
            i++;
            while (i < lines.length && !lines[i].strip().startsWith(fence)) {
                body.append(stripIndent(lines[i], open.group(1).length())).append('\n');
                i++;
            }
            Kind kind = Kind.UNMARKED;
            Set<String> needs = new LinkedHashSet<>();
            String reason = null;
            Matcher marker = lastNonBlank == null ? null : MARKER.matcher(lastNonBlank);
            if (marker != null && marker.matches()) {
                String text = marker.group(2) == null ? "" : marker.group(2);
                if (marker.group(1).equals("run")) {
                    kind = Kind.RUN;
                    String list = text.startsWith("needs") ? text.substring("needs".length()) : text;
                    for (String n : list.split(",")) {
                        if (!n.isBlank()) {
                            needs.add(n.strip());
                        }
                    }
                } else {
                    kind = Kind.NOT_RUN;
                    reason = text;
                }
            }
            blocks.add(new Block(file, start + 1, language, body.toString(), kind, needs, reason));
            lastNonBlank = null;
        }
        return blocks;
    }

    /**
     * What is wrong with the marking of {@code blocks}: a command block without a marker; a marker
     * on a block that is not a command (its fence says output or config: the marker would be
     * ignored); {@code not run here} without a reason; a {@code run} that needs what the test
     * does not know how to provide. Empty when all is well.
     */
    static List<String> problems(List<Block> blocks) {
        List<String> problems = new ArrayList<>();
        for (Block b : blocks) {
            String fence = "```" + b.language();
            if (b.isCommand() && b.kind() == Kind.UNMARKED) {
                problems.add(b.where() + ": a " + fence + " block with no marker: put <!-- run: needs ... --> or "
                        + "<!-- not run here: REASON --> on the line before it, or fence it as ```text if it is not a command");
            }
            if (!b.isCommand() && b.kind() != Kind.UNMARKED) {
                problems.add(b.where() + ": a marker on a " + fence + " block, which is no command: fence it as ```sh");
            }
            if (b.kind() == Kind.NOT_RUN && (b.reason() == null || b.reason().isBlank())) {
                problems.add(b.where() + ": <!-- not run here --> needs its reason after a colon");
            }
            for (String n : b.needs()) {
                if (!NEEDS.contains(n)) {
                    problems.add(b.where() + ": unknown need '" + n + "' (known: " + NEEDS + ")");
                }
            }
        }
        return problems;
    }

    private static String stripIndent(String line, int indent) {
        int n = 0;
        while (n < indent && n < line.length() && line.charAt(n) == ' ') {
            n++;
        }
        return line.substring(n);
    }
}
