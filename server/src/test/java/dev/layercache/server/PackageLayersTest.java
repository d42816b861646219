package dev.layercache.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.deploy.DeployQueries;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * A package knows only the packages below it: the server's package graph (from the sources'
 * references to {@code dev.layercache.server.*} types) has no cycle, and whole-table scans go
 * through the typed indexes of {@code metadata/}, which own their tables' encodings. The
 * compiled classes say the same: {@code jdeps -verbose:package server/target/classes}.
 */
class PackageLayersTest {
    private static final Path SOURCES = DeployQueries.repoRoot().resolve("server/src/main/java/dev/layercache/server");
    private static final Pattern QUALIFIED =
            Pattern.compile("\\bdev\\.layercache\\.server\\.((?:[a-z]\\w*\\.)*)([A-Z]\\w*)");

    /** Package (relative to {@code dev.layercache.server}; "" for the wiring) to the packages it uses, with why. */
    private static Map<String, Map<String, Set<String>>> graph() throws IOException {
        Map<String, Map<String, Set<String>>> graph = new TreeMap<>();
        for (Path file : sources()) {
            String pkg = packageOf(file);
            graph.computeIfAbsent(pkg, p -> new TreeMap<>());
            Matcher m = QUALIFIED.matcher(Files.readString(file));
            while (m.find()) {
                String used = m.group(1).isEmpty() ? "" : m.group(1).substring(0, m.group(1).length() - 1);
                if (!used.equals(pkg)) {
                    graph.get(pkg).computeIfAbsent(used, u -> new TreeSet<>())
                            .add(file.getFileName().toString().replace(".java", "") + " -> " + m.group(2));
                }
            }
        }
        return graph;
    }

    private static List<Path> sources() throws IOException {
        try (Stream<Path> files = Files.walk(SOURCES)) {
            return files.filter(f -> f.toString().endsWith(".java")).sorted().toList();
        }
    }

    private static String packageOf(Path file) {
        return SOURCES.relativize(file.getParent()).toString().replace('/', '.');
    }

    @Test
    void thePackageGraphHasNoCycle() throws IOException {
        Map<String, Map<String, Set<String>>> graph = graph();
        assertTrue(graph.keySet().containsAll(List.of("", "core", "metadata", "retention", "lifecycle", "registry")),
                "the sources were read: " + graph.keySet());
        List<String> cycles = new ArrayList<>();
        for (Set<String> component : new Components(graph).strong()) {
            if (component.size() > 1) {
                StringBuilder why = new StringBuilder(component.toString());
                for (String a : component) {
                    graph.get(a).forEach((b, uses) -> {
                        if (component.contains(b)) {
                            why.append("\n  ").append(a.isEmpty() ? "(wiring)" : a).append(" -> ").append(b)
                                    .append(": ").append(uses);
                        }
                    });
                }
                cycles.add(why.toString());
            }
        }
        assertEquals(List.of(), cycles, "packages that depend on each other: move what both need below both");
    }

    @Test
    void onlyTheTypedIndexesScanWholeTables() throws IOException {
        List<String> raw = new ArrayList<>();
        for (Path file : sources()) {
            if (packageOf(file).equals("metadata")) {
                continue;
            }
            List<String> lines = Files.readAllLines(file);
            for (int i = 0; i < lines.size(); i++) {
                if (lines.get(i).contains(".forEach(Table.")) {
                    raw.add(SOURCES.relativize(file) + ":" + (i + 1));
                }
            }
        }
        assertEquals(List.of(), raw, "a scan that decodes keys by hand: give the index a typed forEach");
    }

    /** Tarjan's strongly connected components. */
    private static final class Components {
        private final Map<String, Map<String, Set<String>>> graph;
        private final Map<String, Integer> index = new HashMap<>();
        private final Map<String, Integer> low = new HashMap<>();
        private final List<String> stack = new ArrayList<>();
        private final List<Set<String>> out = new ArrayList<>();

        Components(Map<String, Map<String, Set<String>>> graph) {
            this.graph = graph;
        }

        List<Set<String>> strong() {
            for (String v : graph.keySet()) {
                if (!index.containsKey(v)) {
                    visit(v);
                }
            }
            return out;
        }

        private void visit(String v) {
            index.put(v, index.size());
            low.put(v, index.get(v));
            stack.add(v);
            for (String w : graph.getOrDefault(v, Map.of()).keySet()) {
                if (!index.containsKey(w)) {
                    visit(w);
                    low.put(v, Math.min(low.get(v), low.get(w)));
                } else if (stack.contains(w)) {
                    low.put(v, Math.min(low.get(v), index.get(w)));
                }
            }
            if (low.get(v).equals(index.get(v))) {
                Set<String> component = new TreeSet<>();
                String w;
                do {
                    w = stack.remove(stack.size() - 1);
                    component.add(w);
                } while (!w.equals(v));
                out.add(component);
            }
        }
    }
}
