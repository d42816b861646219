package dev.layercache.server.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.layercache.server.deploy.DeployQueries.Query;
import dev.layercache.server.testing.RealTools;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The operator artefacts in {@code deploy/}: the Prometheus config, alert rules and their unit
 * tests pass promtool; the Grafana dashboard queries something in every panel, in valid PromQL;
 * and every metric, label and label value the dashboard and the alerts use is one the metrics
 * contract of {@code docs/metrics.md} promises. A renamed metric or a typo in a label value
 * would otherwise leave a panel empty or an alert that never fires, silently.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class DeployArtifactsTest {
    private static final Duration PROMTOOL_TIMEOUT = Duration.ofSeconds(60);
    private static final String WHY_PROMTOOL = "checks the Prometheus config, alert rules and dashboard queries";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper YAML = new YAMLMapper();

    private static final Path ROOT = DeployQueries.repoRoot();
    private static final Path PROMETHEUS_CONFIG = ROOT.resolve("deploy/prometheus/prometheus.yml");
    private static final Path ALERTS = ROOT.resolve(DeployQueries.ALERTS);
    private static final Path ALERTS_TEST = ROOT.resolve("deploy/prometheus/alerts_test.yml");
    private static final Path DASHBOARD = ROOT.resolve(DeployQueries.DASHBOARD);
    /** Where the metrics contract is written down. */
    private static final String METRICS_DOC = "docs/metrics.md";

    /** Labels Prometheus attaches to every scraped series, whatever the server exports. */
    private static final Set<String> TARGET_LABELS = Set.of("job", "instance");
    private static final List<String> HISTOGRAM_SUFFIXES = List.of("_bucket", "_sum", "_count");

    private static final Pattern LAYERCACHE_METRIC = Pattern.compile("\\blayercache_[A-Za-z0-9_]+");
    /** A metric name followed by a label selector; no value in our queries holds a brace. */
    private static final Pattern SELECTOR = Pattern.compile("\\b(layercache_[A-Za-z0-9_]+)\\s*\\{([^}]*)\\}");
    private static final Pattern MATCHER = Pattern.compile("(\\w+)\\s*(=~|!~|!=|=)\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");
    /** A matcher value that names label values outright: {@code hit} or {@code digest_mismatch|aborted}. */
    private static final Pattern PLAIN_ALTERNATIVES = Pattern.compile("\\w+(\\|\\w+)*");

    @TempDir
    Path work;

    // ------------------------------------------------------------------------ promtool

    @Test
    void prometheusConfigIsValid() {
        Path promtool = RealTools.require("promtool", WHY_PROMTOOL);
        // check config also parses the rule files it names (alerts.yml).
        assertSucceeds(run(promtool.toString(), "check", "config", PROMETHEUS_CONFIG.toString()));
    }

    @Test
    void alertRulesAreValid() {
        Path promtool = RealTools.require("promtool", WHY_PROMTOOL);
        assertSucceeds(run(promtool.toString(), "check", "rules", ALERTS.toString()));
    }

    @Test
    void alertRuleUnitTestsPass() {
        Path promtool = RealTools.require("promtool", WHY_PROMTOOL);
        assertSucceeds(run(promtool.toString(), "test", "rules", ALERTS_TEST.toString()));
    }

    /** promtool parses each dashboard query, so a PromQL typo fails here and not on a wall screen. */
    @TestFactory
    Stream<DynamicTest> promtoolAcceptsEveryQuery() {
        List<Query> queries = DeployQueries.all(ROOT);
        assertFalse(queries.isEmpty(), "no queries found in " + DASHBOARD + " and " + ALERTS);
        List<DynamicTest> tests = new ArrayList<>();
        for (int i = 0; i < queries.size(); i++) {
            Query query = queries.get(i);
            Path rulesFile = work.resolve("query-" + i + ".yml");
            tests.add(DynamicTest.dynamicTest(query.source(), () -> {
                Path promtool = RealTools.require("promtool", WHY_PROMTOOL);
                writeRecordingRule(rulesFile, query.expr());
                Result result = run(promtool.toString(), "check", "rules", rulesFile.toString());
                assertEquals(0, result.exitCode(),
                        () -> query.source() + " is not valid PromQL:\n" + query.expr() + "\n" + result.describe());
            }));
        }
        return tests.stream();
    }

    // ------------------------------------------------------------------------ alert rules

    @Test
    void everyAlertHasForSeverityAndAnnotationsShowingTheValue() throws IOException {
        List<JsonNode> alerts = alertRules();
        assertFalse(alerts.isEmpty(), "no alerts in " + ALERTS);
        Set<String> severities = Set.of("critical", "warning", "info");
        for (JsonNode alert : alerts) {
            String name = alert.path("alert").asText();
            assertFalse(alert.path("for").asText().isBlank(), name + " has no for: (it would fire on one evaluation)");
            assertTrue(severities.contains(alert.path("labels").path("severity").asText()),
                    name + " has no severity label among " + severities);
            String summary = alert.path("annotations").path("summary").asText();
            String description = alert.path("annotations").path("description").asText();
            assertFalse(summary.isBlank(), name + " has no summary");
            assertFalse(description.isBlank(), name + " has no description");
            assertTrue(summary.contains("$value") || description.contains("$value"),
                    name + " does not show its value in summary or description");
        }
    }

    /** alerts_test.yml must show every alert both firing and staying quiet. */
    @Test
    void everyAlertIsUnitTestedFiringAndNotFiring() throws IOException {
        Set<String> firing = new TreeSet<>();
        Set<String> quiet = new TreeSet<>();
        for (JsonNode test : YAML.readTree(ALERTS_TEST.toFile()).path("tests")) {
            for (JsonNode check : test.path("alert_rule_test")) {
                String name = check.path("alertname").asText();
                (check.path("exp_alerts").isEmpty() ? quiet : firing).add(name);
            }
        }
        for (JsonNode alert : alertRules()) {
            String name = alert.path("alert").asText();
            assertTrue(firing.contains(name), name + " has no test case in which it fires");
            assertTrue(quiet.contains(name), name + " has no test case in which it stays quiet");
        }
    }

    // ------------------------------------------------------------------------ dashboard

    @Test
    void everyDashboardPanelQueriesPrometheusThroughTheTemplatedDataSource() throws IOException {
        JsonNode dashboard = JSON.readTree(DASHBOARD.toFile());
        List<JsonNode> panels = DeployQueries.panels(dashboard);
        assertFalse(panels.isEmpty(), "the dashboard has no panels");
        Set<Integer> ids = new HashSet<>();
        for (JsonNode panel : panels) {
            String name = "panel " + panel.path("id") + " \"" + panel.path("title").asText() + "\"";
            assertTrue(ids.add(panel.path("id").asInt()), name + ": duplicate id");
            boolean queriesSomething = false;
            for (JsonNode target : panel.path("targets")) {
                queriesSomething |= !target.path("expr").asText("").isBlank();
            }
            assertTrue(queriesSomething, name + " has no target with an expression");
            // The same file then works through provisioning and through "Import dashboard",
            // whatever the Prometheus data source is called there.
            assertEquals("${DS_PROMETHEUS}", panel.path("datasource").path("uid").asText(),
                    name + " does not use the DS_PROMETHEUS data source variable");
        }

        Map<String, JsonNode> variables = new LinkedHashMap<>();
        dashboard.path("templating").path("list").forEach(v -> variables.put(v.path("name").asText(), v));
        JsonNode dataSource = variables.get("DS_PROMETHEUS");
        assertTrue(dataSource != null && dataSource.path("type").asText().equals("datasource")
                && dataSource.path("query").asText().equals("prometheus"),
                "DS_PROMETHEUS must be a data source variable of type prometheus: " + dataSource);
        JsonNode namespace = variables.get("namespace");
        assertTrue(namespace != null && namespace.path("query").asText()
                        .equals("label_values(layercache_namespace_lookups_total, namespace)"),
                "the namespace variable must list the namespaces of layercache_namespace_lookups_total: " + namespace);
        assertTrue(dashboard.path("schemaVersion").asInt() >= 39, "schemaVersion " + dashboard.path("schemaVersion"));
    }

    @Test
    void dashboardVariablesBecomeValuesPrometheusAccepts() {
        List<String> variables = List.of("namespace", "instance");
        assertEquals("sum(rate(x{namespace=~\".*\", instance=~\".*\"}[5m]))",
                DeployQueries.substituteVariables("test",
                        "sum(rate(x{namespace=~\"$namespace\", instance=~\"${instance:regex}\"}[$__rate_interval]))",
                        variables));
        // A misspelt or undefined variable must not slip through as part of a longer name.
        assertThrows(IllegalArgumentException.class,
                () -> DeployQueries.substituteVariables("test", "rate(x[$__rate_intervals])", variables));
        assertThrows(IllegalArgumentException.class,
                () -> DeployQueries.substituteVariables("test", "x{namespace=~\"$namespaces\"}", variables));
    }

    @Test
    void grafanaProvisioningLoadsTheDashboardFolderAndPrometheus() throws IOException {
        JsonNode dataSources = YAML.readTree(ROOT.resolve("deploy/grafana/provisioning/datasources/prometheus.yml").toFile());
        assertEquals(1, dataSources.path("apiVersion").asInt());
        assertEquals("prometheus", dataSources.path("datasources").path(0).path("type").asText());

        JsonNode dashboards = YAML.readTree(ROOT.resolve("deploy/grafana/provisioning/dashboards/layercache.yml").toFile());
        assertEquals(1, dashboards.path("apiVersion").asInt());
        JsonNode provider = dashboards.path("providers").path(0);
        assertEquals("file", provider.path("type").asText());
        assertTrue(provider.path("options").path("path").asText().startsWith("/"),
                "the file provider needs an absolute dashboards path: " + provider);
    }

    // ------------------------------------------------------------------------ the contract

    @Test
    void dashboardAndAlertsUseOnlyMetricsLabelsAndValuesOfTheDocumentedContract() throws IOException {
        Map<String, Map<String, Set<String>>> contract = documentedContract();
        // The parser must have understood the table, or every check below passes for nothing.
        assertEquals(Set.of("hit", "miss"), contract.get("layercache_lookups_total").get("result"),
                "docs/metrics.md contract as parsed: " + contract);
        assertEquals(Set.of(), contract.get("layercache_request_duration_seconds").get("operation"),
                "operation is an open set (\"...\" in docs/metrics.md): " + contract);

        List<String> problems = new ArrayList<>();
        // Whole files, not only the panel queries: the namespace variable's label_values() and
        // anything else a later edit adds count too.
        for (Path file : List.of(DASHBOARD, ALERTS, ALERTS_TEST)) {
            Matcher names = LAYERCACHE_METRIC.matcher(Files.readString(file));
            while (names.find()) {
                if (contractMetric(names.group(), contract) == null) {
                    problems.add(ROOT.relativize(file) + ": " + names.group() + " is not in the docs/metrics.md contract");
                }
            }
        }
        for (Query query : DeployQueries.all(ROOT)) {
            Matcher selector = SELECTOR.matcher(query.expr());
            while (selector.find()) {
                String metric = contractMetric(selector.group(1), contract);
                if (metric == null) {
                    continue; // reported above
                }
                Map<String, Set<String>> labels = contract.get(metric);
                Matcher matcher = MATCHER.matcher(selector.group(2));
                while (matcher.find()) {
                    String label = matcher.group(1);
                    String value = matcher.group(3);
                    boolean histogramBucket = label.equals("le") && selector.group(1).endsWith("_bucket");
                    if (!labels.containsKey(label) && !TARGET_LABELS.contains(label) && !histogramBucket) {
                        problems.add(query.source() + ": " + selector.group(1) + " has no label " + label
                                + " (contract: " + labels.keySet() + ")");
                        continue;
                    }
                    Set<String> allowed = labels.getOrDefault(label, Set.of());
                    if (!allowed.isEmpty() && PLAIN_ALTERNATIVES.matcher(value).matches()) {
                        for (String alternative : value.split("\\|")) {
                            if (!allowed.contains(alternative)) {
                                problems.add(query.source() + ": " + label + "=\"" + alternative
                                        + "\" is not a value of " + metric + " (contract: " + allowed + ")");
                            }
                        }
                    }
                }
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }

    /**
     * The "Prometheus metrics" table of {@code docs/metrics.md} (the README links it): metric
     * name to its labels, each with the values the table lists for it (empty where the set is
     * open, such as {@code namespace}).
     */
    private static Map<String, Map<String, Set<String>>> documentedContract() throws IOException {
        List<String> lines = Files.readAllLines(ROOT.resolve(METRICS_DOC));
        int start = lines.indexOf("## Prometheus metrics");
        assertTrue(start >= 0, METRICS_DOC + " has no \"## Prometheus metrics\" section");
        Pattern backticked = Pattern.compile("`([^`]+)`");
        Pattern labelWithValues = Pattern.compile("`(\\w+)`\\s*(\\(([^)]*)\\))?");
        Map<String, Map<String, Set<String>>> contract = new LinkedHashMap<>();
        for (String line : lines.subList(start + 1, lines.size())) {
            if (line.startsWith("#")) {
                break;
            }
            if (!line.startsWith("|")) {
                continue;
            }
            String[] cells = line.split("\\|", -1);
            if (cells.length < 4) {
                continue;
            }
            Map<String, Set<String>> labels = new LinkedHashMap<>();
            Matcher label = labelWithValues.matcher(cells[2]);
            while (label.find()) {
                Set<String> values = new LinkedHashSet<>();
                String inParentheses = label.group(3);
                // "(`hit`, `miss`)" lists the values; "(`manifest_get`, ... or the gRPC method)" does not.
                if (inParentheses != null && inParentheses.replaceAll("`\\w+`|[,\\s]", "").isEmpty()) {
                    Matcher value = backticked.matcher(inParentheses);
                    while (value.find()) {
                        values.add(value.group(1));
                    }
                }
                labels.put(label.group(1), values);
            }
            Matcher metric = backticked.matcher(cells[1]);
            while (metric.find()) {
                if (metric.group(1).startsWith("layercache_")) {
                    contract.put(metric.group(1), labels);
                }
            }
        }
        assertFalse(contract.isEmpty(), "no layercache_ metrics in the table of " + METRICS_DOC);
        return contract;
    }

    /** The contract's name for a series name: itself, or the histogram a _bucket/_sum/_count belongs to. */
    private static String contractMetric(String series, Map<String, Map<String, Set<String>>> contract) {
        if (contract.containsKey(series)) {
            return series;
        }
        for (String suffix : HISTOGRAM_SUFFIXES) {
            if (series.endsWith(suffix)) {
                String base = series.substring(0, series.length() - suffix.length());
                if (contract.containsKey(base)) {
                    return base;
                }
            }
        }
        return null;
    }

    // ------------------------------------------------------------------------ helpers

    private static List<JsonNode> alertRules() throws IOException {
        List<JsonNode> alerts = new ArrayList<>();
        for (JsonNode group : YAML.readTree(ALERTS.toFile()).path("groups")) {
            for (JsonNode rule : group.path("rules")) {
                if (rule.has("alert")) {
                    alerts.add(rule);
                }
            }
        }
        return alerts;
    }

    /** A rule file with one recording rule: the smallest thing promtool parses PromQL in. */
    private static void writeRecordingRule(Path file, String expr) throws IOException {
        Map<String, Object> rule = Map.of("record", "layercache_deploy_check:query", "expr", expr);
        Map<String, Object> group = Map.of("name", "deploy-check", "rules", List.of(rule));
        YAML.writeValue(file.toFile(), Map.of("groups", List.of(group)));
    }

    private record Result(List<String> command, int exitCode, String output, boolean timedOut) {
        String describe() {
            return "$ " + String.join(" ", command) + "\n"
                    + (timedOut ? "TIMED OUT after " + PROMTOOL_TIMEOUT.toSeconds() + "s (killed)" : "exit " + exitCode)
                    + "\n----- output -----\n" + output + "------------------";
        }
    }

    private static void assertSucceeds(Result result) {
        assertEquals(0, result.exitCode(), result::describe);
    }

    /** Runs a command from the repository root with stdin closed, output captured, killed at the timeout. */
    private Result run(String... command) {
        try {
            Path log = Files.createTempFile(work, "promtool", ".log");
            Process process = new ProcessBuilder(command)
                    .directory(ROOT.toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
            boolean finished = process.waitFor(PROMTOOL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            if (!finished) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
            String output = Files.readString(log, StandardCharsets.UTF_8);
            return new Result(List.of(command), finished ? process.exitValue() : -1, output, !finished);
        } catch (IOException e) {
            return fail("cannot run " + String.join(" ", command) + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return fail("interrupted while running " + String.join(" ", command), e);
        }
    }
}
