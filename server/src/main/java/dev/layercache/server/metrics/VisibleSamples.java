package dev.layercache.server.metrics;

/**
 * Removes from a Prometheus exposition (text 0.0.4 or OpenMetrics) the samples whose
 * {@code namespace} label a reader may not see, and keeps everything else as it was: comments,
 * families (a family left without samples is still valid in both formats) and the final
 * {@code # EOF}. Working on the text keeps the full scrape, which Prometheus makes every few
 * seconds, on Micrometer's own path: only a narrower reader pays for this pass.
 *
 * <p>Namespace label values are valid repository names or prefixes of them, or {@code other}
 * (see {@link Namespaces}): no quote or backslash to unescape, so reading them is exact.
 */
final class VisibleSamples {
    private static final String LABEL = "namespace";

    private VisibleSamples() {
    }

    static String filter(String exposition, MetricsView view) {
        StringBuilder out = new StringBuilder(exposition.length());
        int start = 0;
        while (start < exposition.length()) {
            int end = exposition.indexOf('\n', start);
            end = end < 0 ? exposition.length() : end + 1;
            String namespace = exposition.charAt(start) == '#' ? null : labelValue(exposition, start, end);
            if (namespace == null || view.label(namespace)) {
                out.append(exposition, start, end);
            }
            start = end;
        }
        return out.toString();
    }

    /** The value of the {@code namespace} label of the sample on [start, end), or null. */
    static String labelValue(String text, int start, int end) {
        int open = text.indexOf('{', start);
        int space = text.indexOf(' ', start);
        if (open < 0 || open >= end || (space >= 0 && space < open)) {
            return null; // no labels (a brace further on would be an exemplar's)
        }
        int i = open + 1;
        while (i < end && text.charAt(i) != '}') {
            int eq = text.indexOf('=', i);
            if (eq < 0 || eq + 1 >= end || text.charAt(eq + 1) != '"') {
                return null;
            }
            int valueEnd = eq + 2;
            while (valueEnd < end && text.charAt(valueEnd) != '"') {
                valueEnd += text.charAt(valueEnd) == '\\' ? 2 : 1;
            }
            if (valueEnd >= end) {
                return null;
            }
            if (eq - i == LABEL.length() && text.startsWith(LABEL, i)) {
                return text.substring(eq + 2, valueEnd);
            }
            i = valueEnd + 1;
            if (i < end && text.charAt(i) == ',') {
                i++;
            }
        }
        return null;
    }
}
