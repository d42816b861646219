package dev.layercache.server.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Every PromQL expression the operator artefacts in {@code deploy/} run: the Grafana dashboard's
 * panel queries (with its variables replaced by values Prometheus accepts) and the alert rules.
 * Tests check them with promtool and evaluate them against a real Prometheus.
 */
public final class DeployQueries {
    /** Where an expression comes from (for messages) and the expression itself. */
    public record Query(String source, String expr) {
    }

    public static final String DASHBOARD = "deploy/grafana/layercache-dashboard.json";
    public static final String ALERTS = "deploy/prometheus/alerts.yml";

    /**
     * What Grafana's built-in interval variables become. 5m spans several scrapes at any
     * sensible scrape interval, so rate() over it has the two samples it needs.
     */
    static final String INTERVAL = "5m";

    /** What a dashboard template variable becomes: a regex matching every value ("All"). */
    static final String ALL_VALUES = ".*";

    private static final Pattern BUILT_IN_INTERVAL = variableReference("__rate_interval|__interval|__range");

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper YAML = new YAMLMapper();

    private DeployQueries() {
    }

    /**
     * The repository root: the nearest directory at or above the working directory (Maven runs
     * the server's tests in {@code server/}) that holds {@code deploy/} and the README.
     */
    public static Path repoRoot() {
        Path start = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        for (Path dir = start; dir != null; dir = dir.getParent()) {
            if (Files.isDirectory(dir.resolve("deploy")) && Files.isRegularFile(dir.resolve("README.md"))) {
                return dir;
            }
        }
        throw new IllegalStateException("no directory at or above " + start + " holds deploy/ and README.md");
    }

    /** All expressions of the dashboard and the alert rules under {@link #repoRoot()}. */
    public static List<Query> all() {
        return all(repoRoot());
    }

    public static List<Query> all(Path repoRoot) {
        List<Query> queries = new ArrayList<>(dashboardQueries(repoRoot.resolve(DASHBOARD)));
        queries.addAll(ruleQueries(repoRoot.resolve(ALERTS)));
        return queries;
    }

    /**
     * True for a query of the cluster's bucket metrics ({@code layercache_bucket_*}), which only
     * a node with a bucket exports: a single node returns no data for it.
     */
    public static boolean clusterOnly(Query query) {
        return query.expr().contains("layercache_bucket_");
    }

    /** True for a query of the mirror's metrics, which only a node that mirrors upstream registries exports. */
    public static boolean mirrorOnly(Query query) {
        String expr = query.expr();
        return expr.contains("surface=\"mirror\"") || expr.contains("layercache_upstream_")
                || expr.contains("layercache_mirror_");
    }

    /** Every target expression of every panel, variables replaced. */
    public static List<Query> dashboardQueries(Path dashboardJson) {
        JsonNode dashboard = readJson(dashboardJson);
        List<String> variables = templateVariables(dashboard);
        List<Query> queries = new ArrayList<>();
        for (JsonNode panel : panels(dashboard)) {
            for (JsonNode target : panel.path("targets")) {
                String expr = target.path("expr").asText("");
                if (expr.isBlank()) {
                    continue;
                }
                String source = String.format("dashboard panel %d \"%s\" target %s",
                        panel.path("id").asInt(), panel.path("title").asText(), target.path("refId").asText("?"));
                queries.add(new Query(source, substituteVariables(source, expr, variables)));
            }
        }
        return queries;
    }

    /** The expression of every alerting and recording rule in a Prometheus rule file. */
    public static List<Query> ruleQueries(Path rulesYml) {
        JsonNode rules = readYaml(rulesYml);
        List<Query> queries = new ArrayList<>();
        for (JsonNode group : rules.path("groups")) {
            for (JsonNode rule : group.path("rules")) {
                String name = rule.has("alert") ? "alert " + rule.path("alert").asText()
                        : "record " + rule.path("record").asText();
                queries.add(new Query(rulesYml.getFileName() + " " + name, rule.path("expr").asText()));
            }
        }
        return queries;
    }

    /**
     * The dashboard's panels that show data: rows are left out, and the panels inside a
     * collapsed row (which Grafana nests in the row) are included.
     */
    static List<JsonNode> panels(JsonNode dashboard) {
        List<JsonNode> found = new ArrayList<>();
        collectPanels(dashboard.path("panels"), found);
        return found;
    }

    private static void collectPanels(JsonNode panels, List<JsonNode> found) {
        for (JsonNode panel : panels) {
            if ("row".equals(panel.path("type").asText())) {
                collectPanels(panel.path("panels"), found);
            } else {
                found.add(panel);
            }
        }
    }

    /** The names of the dashboard's template variables whose values end up in label matchers. */
    static List<String> templateVariables(JsonNode dashboard) {
        List<String> names = new ArrayList<>();
        for (JsonNode variable : dashboard.path("templating").path("list")) {
            String type = variable.path("type").asText();
            if (type.equals("query") || type.equals("custom")) {
                names.add(variable.path("name").asText());
            }
        }
        return names;
    }

    /**
     * Replaces Grafana's interval variables with {@link #INTERVAL} and template variables
     * ({@code $name}, {@code ${name}}, {@code ${name:format}}, {@code [[name]]}) with
     * {@link #ALL_VALUES}. A {@code $} left over is a variable the dashboard does not define (or
     * one of a type that has no sensible stand-in): PromQL has no {@code $}, so that fails here
     * rather than as a confusing parse error later.
     */
    static String substituteVariables(String source, String expr, List<String> variables) {
        String result = BUILT_IN_INTERVAL.matcher(expr).replaceAll(INTERVAL);
        for (String name : variables) {
            result = variableReference(Pattern.quote(name)).matcher(result)
                    .replaceAll(Matcher.quoteReplacement(ALL_VALUES));
        }
        if (result.contains("$") || result.contains("[[")) {
            throw new IllegalArgumentException(source + " uses a variable the dashboard does not define: " + expr);
        }
        return result;
    }

    /**
     * Grafana's ways to name a variable: {@code $name} (not followed by more of a name, so
     * {@code $names} stays for the leftover check), {@code ${name}}, {@code ${name:format}} and the
     * deprecated {@code [[name]]}.
     */
    private static Pattern variableReference(String nameRegex) {
        return Pattern.compile("\\$\\{(?:" + nameRegex + ")(?::[^}]*)?\\}"
                + "|\\$(?:" + nameRegex + ")(?![A-Za-z0-9_])"
                + "|\\[\\[(?:" + nameRegex + ")\\]\\]");
    }

    private static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    private static JsonNode readYaml(Path file) {
        try {
            return YAML.readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }
}
