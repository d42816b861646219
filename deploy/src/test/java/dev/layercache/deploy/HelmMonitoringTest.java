package dev.layercache.deploy;

import static dev.layercache.deploy.HelmChart.FULLNAME;
import static dev.layercache.deploy.HelmChart.YAML;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.layercache.deploy.HelmChart.Rendered;
import dev.layercache.server.testing.RealTools;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The chart's Prometheus Operator objects: the ServiceMonitor scrapes the nodes' {@code /metrics}
 * as job {@code layercache} (what the alert rules and the dashboard select), and the
 * PrometheusRule carries exactly the rules of {@code deploy/prometheus/alerts.yml}, read from the
 * one file both use, and passes {@code promtool check rules}.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HelmMonitoringTest {
    private static final Path ALERTS_LINK = HelmChart.ROOT.resolve("deploy/prometheus/alerts.yml");
    private static final Path ALERTS_SOURCE = HelmChart.CHART.resolve("files/alerts.yml");

    @TempDir
    Path work;

    /** One source: Prometheus's copy is a relative link to the chart's file, not a second copy. */
    @Test
    void deployPrometheusAlertsIsALinkToTheChartsFile() throws Exception {
        assertTrue(Files.isSymbolicLink(ALERTS_LINK), ALERTS_LINK + " should be a symbolic link");
        Path target = Files.readSymbolicLink(ALERTS_LINK);
        assertTrue(!target.isAbsolute(), "relative, so that it works in any checkout: " + target);
        assertEquals(ALERTS_SOURCE.toRealPath(), ALERTS_LINK.toRealPath());
        assertTrue(Files.isRegularFile(ALERTS_SOURCE, java.nio.file.LinkOption.NOFOLLOW_LINKS),
                "the chart holds the file itself: a packaged chart must not depend on the repository");
    }

    @Test
    void prometheusRuleHasEveryAlertOfAlertsYml() throws Exception {
        JsonNode rule = HelmChart.template("cluster-tls-auth.yaml").custom("PrometheusRule").orElseThrow();
        assertEquals(FULLNAME, rule.path("metadata").path("name").asText());
        assertEquals("kube-prometheus-stack", rule.path("metadata").path("labels").path("release").asText());

        JsonNode source = YAML.readTree(ALERTS_LINK.toFile()).path("groups");
        JsonNode rendered = rule.path("spec").path("groups");
        // the same groups, rules, expressions, labels and annotations ($labels placeholders untouched)
        assertEquals(source, rendered);
        List<String> alerts = alertNames(rendered);
        assertEquals(alertNames(source), alerts);
        assertTrue(alerts.contains("LayercacheNodeDown") && alerts.size() >= 8, alerts::toString);
        assertTrue(rule.toString().contains("{{ $labels.instance }}"), "annotations reach Prometheus unrendered");
    }

    @Test
    void prometheusRulePassesPromtool() throws Exception {
        Path promtool = RealTools.require("promtool", "checks the PrometheusRule's rules");
        JsonNode rule = HelmChart.template("cluster-tls-auth.yaml").custom("PrometheusRule").orElseThrow();
        ObjectNode file = YAML.createObjectNode();
        file.set("groups", rule.path("spec").path("groups"));
        Path rules = work.resolve("prometheusrule-groups.yml");
        YAML.writeValue(rules.toFile(), file);
        Path log = work.resolve("promtool.log");
        Process p = new ProcessBuilder(promtool.toString(), "check", "rules", rules.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "promtool timed out");
        String output = Files.readString(log, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), output);
        assertTrue(output.contains("SUCCESS: " + alertNames(rule.path("spec").path("groups")).size() + " rules found"),
                output);
    }

    @Test
    void serviceMonitorScrapesTheMainServiceAsJobLayercache() {
        Rendered r = HelmChart.template("cluster-tls-auth.yaml");
        JsonNode sm = r.custom("ServiceMonitor").orElseThrow();
        assertEquals("monitoring.coreos.com/v1", sm.path("apiVersion").asText());
        assertEquals("kube-prometheus-stack", sm.path("metadata").path("labels").path("release").asText());
        JsonNode spec = sm.path("spec");
        assertEquals(r.statefulSet().getSpec().getSelector().getMatchLabels(),
                YAML.convertValue(spec.path("selector").path("matchLabels"), java.util.Map.class));
        assertEquals(List.of("build"), YAML.convertValue(spec.path("namespaceSelector").path("matchNames"), List.class));
        assertEquals(1, spec.path("endpoints").size());
        JsonNode endpoint = spec.path("endpoints").get(0);
        assertEquals("http", endpoint.path("port").asText());
        assertEquals("/metrics", endpoint.path("path").asText());
        assertEquals("https", endpoint.path("scheme").asText());
        assertTrue(endpoint.path("honorLabels").asBoolean(), "the metrics' own namespace label kept");
        assertEquals("prometheus-layercache-token", endpoint.path("authorization").path("credentials").path("name").asText());
        assertEquals(true, endpoint.path("tlsConfig").path("insecureSkipVerify").asBoolean());
        // keep only the main Service (the headless ones select the same pods), job="layercache"
        JsonNode keep = endpoint.path("relabelings").get(0);
        assertEquals("keep", keep.path("action").asText());
        assertEquals(FULLNAME, keep.path("regex").asText());
        JsonNode job = endpoint.path("relabelings").get(1);
        assertEquals("job", job.path("targetLabel").asText());
        assertEquals("layercache", job.path("replacement").asText());
        // only fields the Prometheus Operator's Endpoint has (it refuses unknown ones)
        List<String> known = List.of("port", "path", "scheme", "interval", "scrapeTimeout", "honorLabels",
                "relabelings", "authorization", "tlsConfig");
        endpoint.fieldNames().forEachRemaining(f -> assertTrue(known.contains(f), "unknown endpoint field " + f));
    }

    private static List<String> alertNames(JsonNode groups) {
        List<String> names = new java.util.ArrayList<>();
        for (JsonNode group : groups) {
            for (JsonNode rule : group.path("rules")) {
                if (rule.has("alert")) {
                    names.add(rule.path("alert").asText());
                }
            }
        }
        return names;
    }
}
