package dev.layercache.server.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.MissingNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Reads the numbers the dashboard page shows ({@code data-stat} paths with {@code data-value}
 * raw values) and compares them with the stats JSON they came from.
 */
public final class DashboardStats {
    private DashboardStats() {
    }

    /** Every {@code [data-stat]} element's path and raw value, in document order. */
    public static List<String[]> shownStats(Chromium browser) {
        JsonNode pairs = browser.evaluate("Array.from(document.querySelectorAll('[data-stat]'),"
                + " e => [e.dataset.stat, e.dataset.value === undefined ? '(no data-value)' : e.dataset.value])");
        List<String[]> shown = new ArrayList<>();
        for (JsonNode pair : pairs) {
            shown.add(new String[] {pair.get(0).asText(), pair.get(1).asText()});
        }
        return shown;
    }

    /** Each shown number equals the JSON value at its path (numerically; "null" for null). */
    public static void assertShownMatch(JsonNode stats, List<String[]> shown) {
        List<String> wrong = mismatches(stats, shown, Set.of());
        org.junit.jupiter.api.Assertions.assertTrue(wrong.isEmpty(),
                "numbers on the page differ from the JSON:\n" + String.join("\n", wrong));
    }

    /** The shown numbers that differ from the JSON, leaving out the paths in {@code ignored}. */
    public static List<String> mismatches(JsonNode stats, List<String[]> shown, Set<String> ignored) {
        List<String> wrong = new ArrayList<>();
        for (String[] stat : shown) {
            String path = stat[0];
            if (ignored.contains(path)) {
                continue;
            }
            String value = stat[1];
            JsonNode expected = valueAt(stats, path);
            if (expected.isMissingNode()) {
                wrong.add(path + " = " + value + ": no such number in the JSON");
            } else if (expected.isNull()) {
                if (!value.equals("null")) {
                    wrong.add(path + " = " + value + ", expected null");
                }
            } else if (!expected.isNumber()) {
                wrong.add(path + " = " + value + ": the JSON holds " + expected + ", not a number");
            } else if (!sameNumber(expected, value)) {
                wrong.add(path + " = " + value + ", expected " + expected);
            }
        }
        return wrong;
    }

    private static boolean sameNumber(JsonNode expected, String shown) {
        try {
            return Double.compare(expected.doubleValue(), Double.parseDouble(shown)) == 0;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /**
     * The JSON value at a data-stat path: object keys and array indexes separated by dots, except
     * that {@code namespaces.<name>} picks the namespace by name (the longest that fits, since a
     * name may itself contain dots).
     */
    public static JsonNode valueAt(JsonNode stats, String path) {
        String prefix = "namespaces.";
        if (!path.startsWith(prefix)) {
            return walk(stats, path);
        }
        String rest = path.substring(prefix.length());
        JsonNode best = null;
        String bestName = "";
        for (JsonNode namespace : stats.path("namespaces")) {
            String name = namespace.path("namespace").asText();
            if (rest.startsWith(name + ".") && name.length() >= bestName.length()) {
                best = namespace;
                bestName = name;
            }
        }
        return best == null ? MissingNode.getInstance() : walk(best, rest.substring(bestName.length() + 1));
    }

    private static JsonNode walk(JsonNode node, String path) {
        JsonNode current = node;
        for (String key : path.split("\\.")) {
            if (current.isArray()) {
                try {
                    current = current.path(Integer.parseInt(key));
                } catch (NumberFormatException e) {
                    return MissingNode.getInstance();
                }
            } else {
                current = current.path(key);
            }
        }
        return current;
    }

}
