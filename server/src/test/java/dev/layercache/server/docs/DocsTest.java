package dev.layercache.server.docs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.layercache.server.config.Setting;
import dev.layercache.server.deploy.DeployQueries;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The README stays short and leads to {@code docs/}, where the reference lives: every file of
 * {@code docs/} is linked from the README, every relative link of the Markdown files resolves
 * (file and heading), and {@code docs/configuration.md} documents every {@link Setting} with its
 * flag, environment variable and default, and nothing that is not a setting.
 */
class DocsTest {
    private static final Path ROOT = DeployQueries.repoRoot();
    /** The README is read in five minutes; the reference goes to docs/. */
    private static final int README_MAX_LINES = 150;
    private static final Pattern LINK = Pattern.compile("\\]\\(([^)\\s]+)\\)");
    private static final Pattern ROW = Pattern.compile("^\\| `([a-z0-9-]+)` \\|");

    @Test
    void readmeIsShortAndLinksEveryDoc() throws IOException {
        List<String> readme = Files.readAllLines(ROOT.resolve("README.md"));
        assertTrue(readme.size() <= README_MAX_LINES,
                "README.md has " + readme.size() + " lines; move reference text to docs/ and link it");
        Set<String> linked = new TreeSet<>();
        links(ROOT.resolve("README.md")).forEach(link -> linked.add(link.replaceFirst("#.*", "")));
        List<String> docs;
        try (Stream<Path> files = Files.list(ROOT.resolve("docs"))) {
            docs = files.map(p -> "docs/" + p.getFileName()).filter(n -> n.endsWith(".md")).sorted().toList();
        }
        assertTrue(docs.contains("docs/configuration.md"), "docs/ as listed: " + docs);
        for (String doc : docs) {
            assertTrue(linked.contains(doc), "README.md does not link " + doc + "; its links: " + linked);
        }
    }

    @Test
    void everyRelativeLinkResolves() throws IOException {
        List<Path> files = new ArrayList<>(List.of(ROOT.resolve("README.md"), ROOT.resolve("BENCHMARKS.md"),
                ROOT.resolve("client/README.md"), ROOT.resolve("deploy/README.md"), ROOT.resolve("loadtest/README.md")));
        try (Stream<Path> docs = Files.list(ROOT.resolve("docs"))) {
            docs.filter(p -> p.toString().endsWith(".md")).sorted().forEach(files::add);
        }
        List<String> broken = new ArrayList<>();
        int checked = 0;
        for (Path file : files) {
            for (String link : links(file)) {
                if (link.matches("^[a-z]+:.*")) {
                    continue; // http:, https:, mailto: are not ours to check
                }
                checked++;
                int hash = link.indexOf('#');
                String path = hash < 0 ? link : link.substring(0, hash);
                String anchor = hash < 0 ? null : link.substring(hash + 1);
                Path target = path.isEmpty() ? file : file.getParent().resolve(path).normalize();
                if (!Files.exists(target)) {
                    broken.add(ROOT.relativize(file) + ": " + link + " (no such file)");
                } else if (anchor != null && target.toString().endsWith(".md") && !anchors(target).contains(anchor)) {
                    broken.add(ROOT.relativize(file) + ": " + link + " (no such heading; there are " + anchors(target) + ")");
                }
            }
        }
        assertTrue(checked > 20, "links found: " + checked);
        assertEquals(List.of(), broken);
    }

    @Test
    void configurationDocDocumentsEverySettingAndNothingElse() throws IOException {
        Map<String, String[]> rows = new LinkedHashMap<>();
        for (String line : Files.readAllLines(ROOT.resolve("docs/configuration.md"))) {
            Matcher row = ROW.matcher(line);
            if (row.find() && rows.put(row.group(1), line.split("\\|", -1)) != null) {
                fail(row.group(1) + " is documented twice");
            }
        }
        List<String> problems = new ArrayList<>();
        for (Setting s : Setting.values()) {
            String[] cells = rows.get(s.key());
            if (cells == null) {
                problems.add(s.key() + ": no row");
                continue;
            }
            if (!cells[2].strip().equals("`" + s.flag() + "`")) {
                problems.add(s.key() + ": flag cell " + cells[2].strip());
            }
            if (!cells[3].strip().equals("`" + s.envVar() + "`")) {
                problems.add(s.key() + ": environment cell " + cells[3].strip());
            }
            // Settings without a default in the table ("none", "AWS", a derived address) say so in words.
            if (!s.defaultValue().isEmpty() && !cells[4].strip().startsWith("`" + s.defaultValue() + "`")) {
                problems.add(s.key() + ": default cell " + cells[4].strip() + ", the server's is " + s.defaultValue());
            }
        }
        for (String key : rows.keySet()) {
            if (Setting.byKey(key) == null) {
                problems.add(key + ": documented, but no such setting");
            }
        }
        assertTrue(rows.size() >= Setting.values().length, "rows as parsed: " + rows.keySet());
        assertEquals(List.of(), problems);
    }

    /** The targets of the Markdown links of {@code file}, outside fenced code. */
    private static List<String> links(Path file) throws IOException {
        List<String> links = new ArrayList<>();
        boolean fenced = false;
        for (String line : Files.readAllLines(file)) {
            if (line.strip().startsWith("```")) {
                fenced = !fenced;
                continue;
            }
            if (fenced) {
                continue;
            }
            Matcher m = LINK.matcher(line);
            while (m.find()) {
                links.add(m.group(1));
            }
        }
        return links;
    }

    /** GitHub's anchors for the headings of a Markdown file: lower case, punctuation dropped, spaces to dashes. */
    private static Set<String> anchors(Path file) throws IOException {
        Set<String> anchors = new TreeSet<>();
        boolean fenced = false;
        for (String line : Files.readAllLines(file)) {
            if (line.strip().startsWith("```")) {
                fenced = !fenced;
            } else if (!fenced && line.startsWith("#")) {
                String title = line.replaceFirst("^#+\\s*", "").toLowerCase(Locale.ROOT);
                anchors.add(title.replaceAll("[^\\p{L}\\p{N} _-]", "").replace(' ', '-'));
            }
        }
        return anchors;
    }
}
