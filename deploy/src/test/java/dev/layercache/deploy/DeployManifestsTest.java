package dev.layercache.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Static checks of what deploy/ gives operators, cheap enough to run everywhere (no Docker): the
 * Dockerfile's shape and the paths it relies on, the compose cluster and the Kubernetes manifest
 * (parsed as YAML: every node has the bucket settings, a node URL and a health check; probes,
 * ports, Secret keys and selectors agree with each other). {@link ServerImageTest} runs the image.
 */
class DeployManifestsTest {
    private static final YAMLMapper YAML = new YAMLMapper();
    private static final Path ROOT = DockerFixtures.repoRoot();
    private static final Path DEPLOY = ROOT.resolve("deploy");
    private static final String JAR_IN_CONTEXT = "server/target/layercache-server.jar";
    private static final String HEALTH_CHECK_CLASS = "dev.layercache.server.HealthCheck";
    private static final List<String> S3_SETTINGS = List.of("LAYERCACHE_S3_BUCKET", "LAYERCACHE_S3_ENDPOINT",
            "LAYERCACHE_S3_REGION", "LAYERCACHE_S3_PATH_STYLE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY");

    // ------------------------------------------------------------------------ Dockerfile

    @Test
    void dockerfileBuildsOnTheBaseItIsGivenAndRunsAsNonRoot() throws Exception {
        List<String> instructions = dockerfileInstructions();
        assertTrue(instructions.get(0).matches("ARG BASE_IMAGE=\\S+"), "the base is a build argument: " + instructions.get(0));
        List<String> froms = instructions.stream().filter(i -> i.startsWith("FROM ")).toList();
        assertTrue(froms.size() >= 2, "multi-stage: " + froms);
        for (String from : froms) {
            assertTrue(from.matches("FROM \\$\\{BASE_IMAGE}( AS \\w+)?"), "every stage starts from BASE_IMAGE: " + from);
        }
        List<String> last = instructions.subList(instructions.lastIndexOf(froms.get(froms.size() - 1)), instructions.size());
        assertTrue(last.stream().noneMatch(i -> i.startsWith("RUN ")), "nothing runs in the final stage: " + last);
        assertTrue(last.contains("USER 10001:10001"), last.toString());
        assertTrue(last.contains("VOLUME /data"), last.toString());
        assertTrue(last.contains("EXPOSE 5000 9092"), last.toString());

        String copyJar = last.stream().filter(i -> i.startsWith("COPY " + JAR_IN_CONTEXT + " ")).findFirst()
                .orElseThrow(() -> new AssertionError("the final stage copies " + JAR_IN_CONTEXT));
        String jarInImage = copyJar.substring(copyJar.lastIndexOf(' ') + 1);
        String healthcheck = last.stream().filter(i -> i.startsWith("HEALTHCHECK ")).findFirst().orElseThrow();
        assertTrue(healthcheck.contains("\"-cp\", \"" + jarInImage + "\", \"" + HEALTH_CHECK_CLASS + "\""), healthcheck);
        Class.forName(HEALTH_CHECK_CLASS).getMethod("main", String[].class);
        String entrypoint = last.stream().filter(i -> i.startsWith("ENTRYPOINT ")).findFirst().orElseThrow();
        assertTrue(entrypoint.startsWith("ENTRYPOINT [\"java\"") && entrypoint.endsWith("\"-jar\", \"" + jarInImage + "\"]"),
                "exec form (java is PID 1 and gets SIGTERM), running the jar the image holds: " + entrypoint);

        // The jar the build copies is the one Maven makes, and the only file .dockerignore lets in.
        Path serverJar = Path.of(System.getProperty("layercache.serverJar", ROOT.resolve(JAR_IN_CONTEXT).toString()));
        assertEquals(ROOT.resolve(JAR_IN_CONTEXT).normalize(), serverJar.toAbsolutePath().normalize());
        List<String> ignore = Files.readAllLines(ROOT.resolve(".dockerignore")).stream().map(String::trim)
                .filter(l -> !l.isEmpty() && !l.startsWith("#")).toList();
        assertEquals(List.of("*", "!" + JAR_IN_CONTEXT), ignore, "the build context is the jar alone");
    }

    /** The Dockerfile's instructions, continuation lines joined, comments dropped. */
    private static List<String> dockerfileInstructions() throws IOException {
        List<String> out = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (String line : Files.readAllLines(DEPLOY.resolve("Dockerfile"))) {
            String t = line.trim();
            if (t.startsWith("#") || (t.isEmpty() && current.length() == 0)) {
                continue;
            }
            if (t.endsWith("\\")) {
                current.append(t, 0, t.length() - 1).append(' ');
                continue;
            }
            current.append(t);
            out.add(current.toString().replaceAll("\\s+", " ").trim());
            current.setLength(0);
        }
        return out;
    }

    // ------------------------------------------------------------------------ compose

    @Test
    void composeNodesShareTheBucketMinioServesAndCheckTheirHealth() throws IOException {
        JsonNode services = YAML.readTree(DEPLOY.resolve("compose.yaml").toFile()).path("services");
        Map<String, JsonNode> nodes = new LinkedHashMap<>();
        services.properties().forEach(e -> {
            if ("deploy/Dockerfile".equals(e.getValue().path("build").path("dockerfile").asText())) {
                nodes.put(e.getKey(), e.getValue());
            }
        });
        assertEquals(3, nodes.size(), "three nodes built from deploy/Dockerfile: " + nodes.keySet());

        JsonNode minio = services.path("minio");
        assertFalse(minio.isMissingNode(), "a MinIO service");
        String minioUser = minio.path("environment").path("MINIO_ROOT_USER").asText();
        String minioPassword = minio.path("environment").path("MINIO_ROOT_PASSWORD").asText();
        String bucketCommand = services.path("bucket").path("command").toString();

        Set<String> hostPorts = new HashSet<>();
        Set<String> dataVolumes = new HashSet<>();
        for (var node : nodes.entrySet()) {
            String name = node.getKey();
            JsonNode service = node.getValue();
            assertEquals(ROOT, DEPLOY.resolve(service.path("build").path("context").asText()).normalize(),
                    name + ": the build context is the repository root, as deploy/README.md says");
            assertTrue(service.path("build").path("args").has("BASE_IMAGE"), name + " passes BASE_IMAGE");

            JsonNode env = service.path("environment");
            assertTrue(env.isObject(), name + ": environment as a map");
            for (String setting : S3_SETTINGS) {
                assertFalse(env.path(setting).asText().isBlank(), name + " sets " + setting);
            }
            String bucket = env.path("LAYERCACHE_S3_BUCKET").asText();
            assertTrue(bucketCommand.contains("mc mb --ignore-existing local/" + bucket),
                    name + "'s bucket is the one the bucket service creates: " + bucketCommand);
            URI endpoint = URI.create(env.path("LAYERCACHE_S3_ENDPOINT").asText());
            assertEquals("minio", endpoint.getHost(), name + " reaches the bucket at the MinIO service");
            assertEquals(9000, endpoint.getPort());
            assertEquals("true", env.path("LAYERCACHE_S3_PATH_STYLE").asText(), "MinIO wants path-style addressing");
            assertEquals(minioUser, env.path("AWS_ACCESS_KEY_ID").asText(), name + ": MinIO's credentials");
            assertEquals(minioPassword, env.path("AWS_SECRET_ACCESS_KEY").asText(), name + ": MinIO's credentials");
            assertEquals("http://" + name + ":5000", env.path("LAYERCACHE_NODE_URL").asText(),
                    name + ": the other nodes reach it by its service name");

            assertTrue(service.path("healthcheck").path("test").toString().contains(HEALTH_CHECK_CLASS),
                    name + " has the image's health check: " + service.path("healthcheck"));
            assertEquals("service_completed_successfully",
                    service.path("depends_on").path("bucket").path("condition").asText(), name + " waits for the bucket");

            String data = null;
            for (JsonNode v : service.path("volumes")) {
                if (v.asText().endsWith(":/data")) {
                    data = v.asText().substring(0, v.asText().indexOf(':'));
                }
            }
            assertNotNull(data, name + " keeps /data in a volume");
            assertTrue(dataVolumes.add(data), name + " has a /data volume of its own");
        }
        services.properties().forEach(e -> {
            for (JsonNode p : e.getValue().path("ports")) {
                String[] parts = p.asText().split(":");
                String published = parts[0] + ":" + parts[parts.length - 2];
                assertTrue(hostPorts.add(published), "published twice: " + published);
            }
        });

        // nginx spreads both APIs over all three nodes.
        String nginx = Files.readString(DEPLOY.resolve("compose/nginx.conf"));
        assertTrue(services.path("nginx").path("volumes").toString().contains("./compose/nginx.conf:"), "nginx mounts its config");
        for (String name : nodes.keySet()) {
            assertTrue(nginx.contains("server " + name + ":5000;"), "nginx's HTTP upstream lists " + name);
            assertTrue(nginx.contains("server " + name + ":9092;"), "nginx's gRPC upstream lists " + name);
        }
    }

    // ------------------------------------------------------------------------ Kubernetes

    @Test
    void kubernetesDeploymentProbesRunsAsNonRootAndTakesTheBucketFromItsSecret() throws IOException {
        Map<String, JsonNode> byKind = new HashMap<>();
        try (MappingIterator<JsonNode> docs = YAML.readerFor(JsonNode.class)
                .readValues(DEPLOY.resolve("kubernetes/layercache.yaml").toFile())) {
            while (docs.hasNext()) {
                JsonNode doc = docs.next();
                assertTrue(byKind.put(doc.path("kind").asText(), doc) == null, "one " + doc.path("kind"));
            }
        }
        JsonNode secret = byKind.get("Secret");
        JsonNode deployment = byKind.get("Deployment");
        JsonNode service = byKind.get("Service");
        assertNotNull(secret);
        assertNotNull(deployment);
        assertNotNull(service);

        JsonNode spec = deployment.path("spec");
        assertEquals(3, spec.path("replicas").asInt());
        JsonNode podLabels = spec.path("template").path("metadata").path("labels");
        spec.path("selector").path("matchLabels").properties().forEach(
                l -> assertEquals(l.getValue(), podLabels.path(l.getKey()), "the selector matches the pods"));
        JsonNode pod = spec.path("template").path("spec");
        assertEquals(1, pod.path("containers").size());
        JsonNode container = pod.path("containers").get(0);

        Map<String, Integer> ports = new HashMap<>();
        container.path("ports").forEach(p -> ports.put(p.path("name").asText(), p.path("containerPort").asInt()));
        assertEquals(Map.of("http", 5000, "grpc", 9092), ports);

        assertEquals("/readyz", container.path("readinessProbe").path("httpGet").path("path").asText());
        assertEquals("http", container.path("readinessProbe").path("httpGet").path("port").asText());
        assertEquals("/healthz", container.path("livenessProbe").path("httpGet").path("path").asText(),
                "liveness asks whether the process is up, not whether the bucket is");
        assertEquals("http", container.path("livenessProbe").path("httpGet").path("port").asText());

        JsonNode podSecurity = pod.path("securityContext");
        assertTrue(podSecurity.path("runAsNonRoot").asBoolean(), "runAsNonRoot");
        assertEquals(10001, podSecurity.path("runAsUser").asInt(), "the image's uid");
        assertEquals(10001, podSecurity.path("runAsGroup").asInt());
        assertFalse(container.path("securityContext").path("allowPrivilegeEscalation").asBoolean(true));

        Map<String, JsonNode> env = new HashMap<>();
        container.path("env").forEach(e -> env.put(e.path("name").asText(), e));
        for (String setting : S3_SETTINGS) {
            assertTrue(env.containsKey(setting), "the pods set " + setting);
        }
        String secretName = secret.path("metadata").path("name").asText();
        for (String fromSecret : List.of("LAYERCACHE_S3_BUCKET", "LAYERCACHE_S3_ENDPOINT", "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY")) {
            JsonNode ref = env.get(fromSecret).path("valueFrom").path("secretKeyRef");
            assertEquals(secretName, ref.path("name").asText(), fromSecret + " comes from the Secret");
            assertTrue(secret.path("stringData").has(ref.path("key").asText()),
                    fromSecret + ": the Secret has the key " + ref.path("key"));
        }
        assertEquals(Integer.toString(ports.get("http")), env.get("LAYERCACHE_HTTP_PORT").path("value").asText());
        assertEquals(Integer.toString(ports.get("grpc")), env.get("LAYERCACHE_GRPC_PORT").path("value").asText());
        // http://$(POD_IP):5000, with POD_IP defined before it (Kubernetes expands earlier variables only)
        Matcher nodeUrl = Pattern.compile("http://\\$\\((\\w+)\\):(\\d+)").matcher(env.get("LAYERCACHE_NODE_URL").path("value").asText());
        assertTrue(nodeUrl.matches(), "LAYERCACHE_NODE_URL is the pod's own address");
        assertEquals("status.podIP", env.get(nodeUrl.group(1)).path("valueFrom").path("fieldRef").path("fieldPath").asText());
        List<String> envOrder = new ArrayList<>(env.size());
        container.path("env").forEach(e -> envOrder.add(e.path("name").asText()));
        assertTrue(envOrder.indexOf(nodeUrl.group(1)) < envOrder.indexOf("LAYERCACHE_NODE_URL"));
        assertEquals(ports.get("http"), Integer.valueOf(nodeUrl.group(2)));

        String dataVolume = null;
        for (JsonNode m : container.path("volumeMounts")) {
            if ("/data".equals(m.path("mountPath").asText())) {
                dataVolume = m.path("name").asText();
            }
        }
        assertNotNull(dataVolume, "/data is a volume");
        boolean backed = false;
        for (JsonNode v : pod.path("volumes")) {
            if (v.path("name").asText().equals(dataVolume)) {
                backed = v.has("emptyDir") || v.has("persistentVolumeClaim");
            }
        }
        assertTrue(backed, "/data is an emptyDir or a claim");
        if (container.path("securityContext").path("readOnlyRootFilesystem").asBoolean()) {
            assertTrue(container.path("volumeMounts").toString().contains("\"/tmp\""),
                    "a read-only root needs a writable /tmp (the JVM unpacks native libraries there)");
        }

        // The Service sends both ports to the pods' named ports.
        service.path("spec").path("selector").properties().forEach(
                l -> assertEquals(l.getValue(), podLabels.path(l.getKey()), "the Service selects the pods"));
        Map<Integer, String> servicePorts = new HashMap<>();
        service.path("spec").path("ports").forEach(p -> servicePorts.put(p.path("port").asInt(), p.path("targetPort").asText()));
        assertEquals(Map.of(5000, "http", 9092, "grpc"), servicePorts);
    }
}
