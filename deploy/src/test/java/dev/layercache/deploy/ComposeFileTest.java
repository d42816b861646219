package dev.layercache.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.layercache.server.testing.RealTools;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The compose stack of {@code deploy/compose.yaml} as Docker Compose itself resolves it. No image
 * can be pulled here, so the stack never starts in a test; what can be checked offline is: Debian's
 * {@code docker-compose} (1.29) accepts the file and resolves it, with the default images and with
 * every {@code *_IMAGE} variable set; in the resolved config Prometheus mounts its config (whose
 * targets are the three nodes' service names on their HTTP port) and the alert rules at the path
 * that config names, Grafana mounts the data source, the dashboard provider and the dashboard where
 * the provider looks, each from a file the repository holds; every published port is bound to
 * 127.0.0.1; and the real {@code promtool} accepts the compose Prometheus config with its rules.
 * {@link DeployManifestsTest} checks the nodes, MinIO and nginx in the raw file.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ComposeFileTest {
    private static final YAMLMapper YAML = new YAMLMapper();
    private static final Duration TOOL_TIMEOUT = Duration.ofSeconds(60);
    private static final String WHY_COMPOSE = "validates and resolves deploy/compose.yaml";
    private static final String WHY_PROMTOOL = "checks the compose stack's Prometheus config and its rules";

    private static final Path ROOT = DockerFixtures.repoRoot();
    private static final Path COMPOSE_FILE = ROOT.resolve("deploy/compose.yaml");
    private static final Path COMPOSE_PROMETHEUS_CONFIG = ROOT.resolve("deploy/compose/prometheus.yml");
    private static final Path ALERTS = ROOT.resolve("deploy/prometheus/alerts.yml");
    private static final Path DATASOURCE = ROOT.resolve("deploy/grafana/provisioning/datasources/prometheus.yml");
    private static final Path DASHBOARD_PROVIDER = ROOT.resolve("deploy/grafana/provisioning/dashboards/layercache.yml");
    private static final Path DASHBOARD = ROOT.resolve("deploy/grafana/layercache-dashboard.json");

    private static final Set<String> SERVICES = Set.of("minio", "bucket", "layercache-1", "layercache-2",
            "layercache-3", "nginx", "prometheus", "grafana");
    /** The password deploy/README.md documents for Grafana's admin when GRAFANA_ADMIN_PASSWORD is unset. */
    private static final String DEFAULT_GRAFANA_PASSWORD = "admin";
    /** {@code ${NAME_IMAGE:-default}} in the compose file. */
    private static final Pattern IMAGE_VARIABLE = Pattern.compile("\\$\\{([A-Z0-9_]+_IMAGE):-([^}]+)}");

    @TempDir
    Path work;

    // ------------------------------------------------------------------------ images

    @Test
    void resolvesWithTheDefaultImagesEachPinnedToAVersion() throws IOException {
        Map<String, String> defaults = imageVariables();
        assertTrue(defaults.keySet().containsAll(Set.of("BASE_IMAGE", "MINIO_IMAGE", "MC_IMAGE", "NGINX_IMAGE",
                "PROMETHEUS_IMAGE", "GRAFANA_IMAGE")), "every image is configurable: " + defaults.keySet());
        for (var d : defaults.entrySet()) {
            String image = d.getValue();
            String tag = image.substring(image.lastIndexOf('/') + 1);
            assertTrue(tag.contains(":") || image.contains("@sha256:"), d.getKey() + " names a version: " + image);
            assertNotEquals("latest", tag.substring(tag.indexOf(':') + 1), d.getKey() + " is pinned: " + image);
        }

        JsonNode resolved = resolve(Map.of());
        assertEquals(new TreeSet<>(SERVICES), fieldNames(resolved.path("services")));
        assertEquals(new TreeSet<>(defaults.values()), imagesIn(resolved),
                "with no variable set, the services run exactly the default images");
        assertEquals(DEFAULT_GRAFANA_PASSWORD,
                resolved.path("services").path("grafana").path("environment").path("GF_SECURITY_ADMIN_PASSWORD").asText());
        String readme = Files.readString(ROOT.resolve("deploy/README.md"));
        assertTrue(readme.contains("GRAFANA_ADMIN_PASSWORD") && readme.contains("`" + DEFAULT_GRAFANA_PASSWORD + "`"),
                "deploy/README.md documents GRAFANA_ADMIN_PASSWORD and its default");
    }

    @Test
    void everyImageAndTheGrafanaPasswordFollowTheirVariables() throws IOException {
        Map<String, String> env = new TreeMap<>();
        for (String variable : imageVariables().keySet()) {
            env.put(variable, "registry.example.com/mirror/" + variable.toLowerCase(Locale.ROOT) + ":1.0");
        }
        env.put("GRAFANA_ADMIN_PASSWORD", "not-the-default");
        JsonNode resolved = resolve(env);
        env.remove("GRAFANA_ADMIN_PASSWORD");
        assertEquals(new TreeSet<>(env.values()), imagesIn(resolved), "every default is replaced by its variable");
        assertEquals("not-the-default",
                resolved.path("services").path("grafana").path("environment").path("GF_SECURITY_ADMIN_PASSWORD").asText());
    }

    // ------------------------------------------------------------------------ ports

    @Test
    void everyPublishedPortIsBoundToLoopback() throws IOException {
        JsonNode services = resolve(Map.of()).path("services");
        Set<String> publishing = new TreeSet<>();
        int ports = 0;
        for (var service : services.properties()) {
            for (JsonNode port : service.getValue().path("ports")) {
                ports++;
                publishing.add(service.getKey());
                // short syntax 127.0.0.1:9090:9090/tcp, or the long one with host_ip
                String hostIp = port.isTextual() ? port.asText().split(":")[0] : port.path("host_ip").asText();
                assertEquals("127.0.0.1", hostIp, service.getKey() + " publishes " + port + " beyond this host");
            }
        }
        assertTrue(publishing.containsAll(Set.of("prometheus", "grafana", "nginx", "layercache-1")), publishing.toString());
        assertTrue(ports >= 10, "the ports were read: " + ports);
    }

    // ------------------------------------------------------------------------ Prometheus

    @Test
    void prometheusScrapesTheThreeNodesAndLoadsTheAlertRules() throws IOException {
        JsonNode resolved = resolve(Map.of());
        JsonNode prometheus = resolved.path("services").path("prometheus");
        Map<String, String> mounts = mounts(prometheus);

        String configInContainer = flag(prometheus, "--config.file");
        assertEquals(real(COMPOSE_PROMETHEUS_CONFIG), real(Path.of(mounts.get(configInContainer))),
                "Prometheus reads deploy/compose/prometheus.yml: " + mounts);
        JsonNode config = YAML.readTree(COMPOSE_PROMETHEUS_CONFIG.toFile());

        // Each rule file resolves, relative to the config, to the same file in the container and here.
        List<String> ruleFiles = new ArrayList<>();
        config.path("rule_files").forEach(r -> ruleFiles.add(r.asText()));
        assertFalse(ruleFiles.isEmpty(), "the compose config loads rule files");
        Set<Path> loaded = new HashSet<>();
        for (String rule : ruleFiles) {
            String inContainer = Path.of(configInContainer).resolveSibling(rule).normalize().toString();
            assertTrue(mounts.containsKey(inContainer), rule + " is at " + inContainer + " in the container: " + mounts);
            Path inRepo = COMPOSE_PROMETHEUS_CONFIG.resolveSibling(rule).normalize();
            assertTrue(Files.isRegularFile(inRepo), rule + " exists next to the config in the repository: " + inRepo);
            assertEquals(real(inRepo), real(Path.of(mounts.get(inContainer))), rule + ": the same file in both places");
            loaded.add(real(inRepo));
        }
        assertEquals(Set.of(real(ALERTS)), loaded, "the rules are deploy/prometheus/alerts.yml");

        JsonNode job = null;
        for (JsonNode j : config.path("scrape_configs")) {
            if ("layercache".equals(j.path("job_name").asText())) {
                job = j;
            }
        }
        assertNotNull(job, "job layercache (the alerts select job=\"layercache\")");
        assertEquals("/metrics", job.path("metrics_path").asText("/metrics"));
        Set<String> targets = new TreeSet<>();
        job.path("static_configs").forEach(sc -> sc.path("targets").forEach(t -> targets.add(t.asText())));
        Set<String> nodes = new TreeSet<>();
        for (var service : resolved.path("services").properties()) {
            JsonNode nodeUrl = service.getValue().path("environment").path("LAYERCACHE_NODE_URL");
            if (!nodeUrl.isMissingNode()) {
                // the node's HTTP port as the other containers reach it (and /metrics is served there)
                URI url = URI.create(nodeUrl.asText());
                assertEquals(service.getKey(), url.getHost());
                nodes.add(url.getHost() + ":" + url.getPort());
            }
        }
        assertEquals(Set.of("layercache-1:5000", "layercache-2:5000", "layercache-3:5000"), nodes);
        assertEquals(nodes, targets, "Prometheus scrapes every node by its service name, and nothing else");

        assertDataOnNamedVolume(resolved, prometheus, flag(prometheus, "--storage.tsdb.path"));
        assertHealthChecked(prometheus, "prometheus");
    }

    @Test
    void promtoolAcceptsTheComposePrometheusConfigAndLoadsItsRules() {
        Path promtool = RealTools.require("promtool", WHY_PROMTOOL);
        Result result = run(Map.of(), promtool.toString(), "check", "config", ROOT.relativize(COMPOSE_PROMETHEUS_CONFIG).toString());
        assertEquals(0, result.exitCode(), result::describe);
        // A rule path that matches no file is an empty glob to promtool, not an error: see that it read the rules.
        String said = result.output() + result.errors();
        assertTrue(said.contains("Checking deploy/prometheus/alerts.yml"), result::describe);
        assertTrue(Pattern.compile("SUCCESS: [1-9]\\d* rules found").matcher(said).find(), result::describe);
    }

    // ------------------------------------------------------------------------ Grafana

    @Test
    void grafanaIsProvisionedWithThePrometheusDataSourceAndTheDashboard() throws IOException {
        JsonNode resolved = resolve(Map.of());
        JsonNode services = resolved.path("services");
        JsonNode grafana = services.path("grafana");
        Map<Path, String> byFile = new LinkedHashMap<>();
        mounts(grafana).forEach((target, source) -> {
            if (source.startsWith("/")) {
                byFile.put(real(Path.of(source)), target);
            }
        });

        for (Path file : List.of(DATASOURCE, DASHBOARD_PROVIDER, DASHBOARD)) {
            assertTrue(Files.isRegularFile(file), file + " exists in the repository");
            assertTrue(byFile.containsKey(real(file)), "Grafana mounts " + ROOT.relativize(file) + ": " + byFile);
        }
        assertTrue(byFile.get(real(DATASOURCE)).matches("/etc/grafana/provisioning/datasources/[^/]+\\.ya?ml"),
                byFile.get(real(DATASOURCE)));
        assertTrue(byFile.get(real(DASHBOARD_PROVIDER)).matches("/etc/grafana/provisioning/dashboards/[^/]+\\.ya?ml"),
                byFile.get(real(DASHBOARD_PROVIDER)));
        String providerPath = YAML.readTree(DASHBOARD_PROVIDER.toFile()).path("providers").get(0).path("options").path("path").asText();
        assertEquals(Path.of(providerPath), Path.of(byFile.get(real(DASHBOARD))).getParent(),
                "the dashboard is where the provider looks");

        // The data source reaches the compose Prometheus by its service name and port.
        JsonNode datasource = YAML.readTree(DATASOURCE.toFile()).path("datasources").get(0);
        URI url = URI.create(datasource.path("url").asText());
        assertTrue(services.has(url.getHost()), "the data source's host is a service: " + url);
        assertEquals("prometheus", url.getHost());
        assertEquals(containerPorts(services.path("prometheus")), Set.of(url.getPort()),
                "the data source uses the port Prometheus serves");
        assertEquals(YAML.readTree(COMPOSE_PROMETHEUS_CONFIG.toFile()).path("global").path("scrape_interval").asText(),
                datasource.path("jsonData").path("timeInterval").asText(),
                "the data source's interval is the scrape interval ($__rate_interval depends on it)");

        assertDataOnNamedVolume(resolved, grafana, "/var/lib/grafana");
        assertHealthChecked(grafana, "grafana");
        assertEquals("service_healthy", grafana.path("depends_on").path("prometheus").path("condition").asText());
    }

    // ------------------------------------------------------------------------ helpers

    private static void assertDataOnNamedVolume(JsonNode resolved, JsonNode service, String dataPath) {
        String source = mounts(service).get(dataPath);
        assertNotNull(source, dataPath + " is mounted: " + service.path("volumes"));
        assertFalse(source.startsWith("/") || source.startsWith("."), dataPath + " is on a named volume: " + source);
        assertTrue(resolved.path("volumes").has(source), source + " is declared under volumes:");
    }

    private static void assertHealthChecked(JsonNode service, String name) {
        JsonNode test = service.path("healthcheck").path("test");
        assertTrue(test.isArray() && test.size() > 1 && "CMD".equals(test.get(0).asText()), name + " has a health check: " + test);
        assertTrue(test.toString().contains("http://127.0.0.1:"), name + "'s health check asks its own HTTP port: " + test);
    }

    /** The value of {@code --name=value} in a service's command. */
    private static String flag(JsonNode service, String name) {
        for (JsonNode arg : service.path("command")) {
            if (arg.asText().startsWith(name + "=")) {
                return arg.asText().substring(name.length() + 1);
            }
        }
        return fail(name + " is not in the command: " + service.path("command"));
    }

    /** Container path to source (an absolute host path for a bind mount, a volume's name otherwise). */
    private static Map<String, String> mounts(JsonNode service) {
        Map<String, String> mounts = new LinkedHashMap<>();
        for (JsonNode volume : service.path("volumes")) {
            if (volume.isTextual()) {
                String[] parts = volume.asText().split(":");
                mounts.put(parts[1], parts[0]);
            } else {
                mounts.put(volume.path("target").asText(), volume.path("source").asText());
            }
        }
        return mounts;
    }

    private static Set<Integer> containerPorts(JsonNode service) {
        Set<Integer> ports = new TreeSet<>();
        for (JsonNode port : service.path("ports")) {
            if (port.isTextual()) {
                String[] parts = port.asText().split("/")[0].split(":");
                ports.add(Integer.parseInt(parts[parts.length - 1]));
            } else {
                ports.add(port.path("target").asInt());
            }
        }
        return ports;
    }

    private static Set<String> imagesIn(JsonNode resolved) {
        Set<String> images = new TreeSet<>();
        for (var service : resolved.path("services").properties()) {
            JsonNode s = service.getValue();
            if (s.has("build")) {
                // built here (layercache:local), on the base image the variable names
                images.add(s.path("build").path("args").path("BASE_IMAGE").asText());
            } else {
                images.add(s.path("image").asText());
            }
        }
        return images;
    }

    private static Map<String, String> imageVariables() throws IOException {
        Map<String, String> variables = new TreeMap<>();
        Matcher m = IMAGE_VARIABLE.matcher(Files.readString(COMPOSE_FILE));
        while (m.find()) {
            String previous = variables.put(m.group(1), m.group(2));
            assertTrue(previous == null || previous.equals(m.group(2)), m.group(1) + " has one default");
        }
        return variables;
    }

    private static Set<String> fieldNames(JsonNode node) {
        Set<String> names = new TreeSet<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }

    private static Path real(Path path) {
        try {
            return path.toRealPath();
        } catch (IOException e) {
            return fail(path + " does not exist", e);
        }
    }

    /** {@code docker-compose config}: the file as Compose resolves it, with exactly {@code env} among its variables. */
    private JsonNode resolve(Map<String, String> env) throws IOException {
        Path compose = RealTools.require("docker-compose", WHY_COMPOSE);
        Result result = run(env, compose.toString(), "-f", ROOT.relativize(COMPOSE_FILE).toString(), "config");
        assertEquals(0, result.exitCode(), result::describe);
        JsonNode resolved = YAML.readTree(result.output());
        assertTrue(resolved.path("services").isObject(), result::describe);
        return resolved;
    }

    private record Result(List<String> command, int exitCode, String output, String errors, boolean timedOut) {
        String describe() {
            return "$ " + String.join(" ", command) + "\n"
                    + (timedOut ? "TIMED OUT after " + TOOL_TIMEOUT.toSeconds() + "s (killed)" : "exit " + exitCode)
                    + "\n----- output -----\n" + output + "----- errors -----\n" + errors + "------------------";
        }
    }

    /**
     * Runs a command from the repository root, stdin closed, killed at the timeout. The variables
     * the compose file reads (and Compose's own) are removed from the inherited environment so
     * that a developer's shell cannot change what is checked; {@code env} is added.
     */
    private Result run(Map<String, String> env, String... command) {
        try {
            Path out = Files.createTempFile(work, "tool", ".out");
            Path err = Files.createTempFile(work, "tool", ".err");
            ProcessBuilder builder = new ProcessBuilder(command)
                    .directory(ROOT.toFile())
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            builder.environment().keySet().removeIf(k -> k.endsWith("_IMAGE") || k.startsWith("COMPOSE_")
                    || k.equals("GRAFANA_ADMIN_PASSWORD"));
            builder.environment().putAll(env);
            Process process = builder.start();
            boolean finished = process.waitFor(TOOL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            if (!finished) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
            return new Result(List.of(command), finished ? process.exitValue() : -1,
                    Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8), !finished);
        } catch (IOException e) {
            return fail("cannot run " + String.join(" ", command) + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return fail("interrupted while running " + String.join(" ", command), e);
        }
    }
}
