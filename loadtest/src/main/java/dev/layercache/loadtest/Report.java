package dev.layercache.loadtest;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.HdrHistogram.Histogram;

/** Results of one benchmark run: rows of named figures, printed as Markdown and saved as JSON. */
final class Report {
    private final String title;
    private final List<Map<String, Object>> rows = new ArrayList<>();

    Report(String title) {
        this.title = title;
    }

    Map<String, Object> row(String name) {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("benchmark", name);
        rows.add(row);
        return row;
    }

    /** The rows so far, each a map of figures by name. */
    List<Map<String, Object>> rows() {
        return rows;
    }

    static void latencies(Map<String, Object> row, Histogram micros) {
        latencies(row, "", micros);
    }

    /** As {@link #latencies(Map, Histogram)}, each figure's name starting with {@code prefix}. */
    static void latencies(Map<String, Object> row, String prefix, Histogram micros) {
        row.put(prefix + "p50_ms", micros.getValueAtPercentile(50) / 1000.0);
        row.put(prefix + "p99_ms", micros.getValueAtPercentile(99) / 1000.0);
        row.put(prefix + "p99.9_ms", micros.getValueAtPercentile(99.9) / 1000.0);
        row.put(prefix + "max_ms", micros.getMaxValue() / 1000.0);
    }

    String markdown() {
        StringBuilder sb = new StringBuilder("## ").append(title).append("\n\n");
        for (Map<String, Object> row : rows) {
            sb.append("| ").append(row.get("benchmark")).append(" | |\n|---|---|\n");
            row.forEach((k, v) -> {
                if (!k.equals("benchmark")) {
                    sb.append("| ").append(k).append(" | ").append(format(v)).append(" |\n");
                }
            });
            sb.append('\n');
        }
        return sb.toString();
    }

    void write(Path json) throws IOException {
        if (json != null) {
            Files.write(json, new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
                    .writeValueAsBytes(Map.of("title", title, "rows", rows)));
        }
    }

    private static String format(Object v) {
        return v instanceof Double d ? String.format("%.2f", d) : String.valueOf(v);
    }
}
