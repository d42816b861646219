package dev.layercache.deploy;

import static dev.layercache.deploy.HelmChart.FULLNAME;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.deploy.HelmChart.Rendered;
import dev.layercache.server.testing.RealTools;
import dev.layercache.server.testing.ServerProcess;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Pod;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The chart's {@code helm test} hook, run for real without a cluster: the script of the rendered
 * test Pod, with the Pod's environment, runs under {@code /bin/sh} with this machine's curl against
 * a real server process started with the configuration file the chart renders for a node. So the
 * script's push (POST, PUT ?digest=) and pull (GET) work against the server, and it fails when
 * the push is refused.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class HelmTestHookTest {
    private static final String WHY_CURL = "runs the chart's helm test script";

    @TempDir
    Path work;

    @Test
    void theTestPodPushesAndPullsABlobThroughARealNode() throws Exception {
        RealTools.require("curl", WHY_CURL);
        Rendered r = HelmChart.template();
        Path config = work.resolve("config.yaml");
        Files.writeString(config, r.get(ConfigMap.class, FULLNAME).getData().get("config.yaml"));
        try (ServerProcess server = ServerProcess.start(work.resolve("data"), work.resolve("server.log"),
                "--config", config.toString())) {
            Result result = runTestPod(r, server, Map.of());
            assertEquals(0, result.exit(), result.output());
            assertTrue(result.output().contains("same bytes"), result.output());
            // the blob is in the node, under the repository the values name
            String digest = result.output().replaceAll("(?s).*pushing (sha256:[0-9a-f]{64}).*", "$1");
            Process head = new ProcessBuilder("curl", "-sfI", "http://127.0.0.1:" + server.port()
                    + "/v2/helm-test/blob/blobs/" + digest).start();
            assertTrue(head.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, head.exitValue(), "HEAD of the pushed blob");
        }
    }

    @Test
    void withAccessControlItUsesTheCredentialsSecretAndFailsWithoutTheRightOnes() throws Exception {
        RealTools.require("curl", WHY_CURL);
        String token = "helm-test-token-" + System.nanoTime();
        Path tokens = work.resolve("tokens");
        Files.writeString(tokens, "helm-test sha256:" + HexFormat.of().formatHex(
                MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8))) + "\n");
        Rendered r = HelmChart.template(List.of(), Map.of("tests.credentialsSecret", "layercache-test-user"));
        try (ServerProcess server = ServerProcess.start(work.resolve("data"), work.resolve("server.log"),
                "--auth-tokens", tokens.toString())) {
            // the Secret's username and password reach the script as LC_USERNAME / LC_PASSWORD
            Result ok = runTestPod(r, server, Map.of("LC_USERNAME", "helm-test", "LC_PASSWORD", token));
            assertEquals(0, ok.exit(), ok.output());
            assertTrue(ok.output().contains("same bytes"), ok.output());

            Result denied = runTestPod(r, server, Map.of("LC_USERNAME", "helm-test", "LC_PASSWORD", "wrong"));
            assertNotEquals(0, denied.exit(), "a refused push must fail the test: " + denied.output());
            assertTrue(denied.output().contains("401"), denied.output());
            assertTrue(!denied.output().contains("wrong") && !ok.output().contains(token),
                    "the password is not printed");
        }
    }

    private record Result(int exit, String output) {
    }

    /**
     * Runs the test Pod's command with its literal environment, the URL pointed at {@code server}
     * instead of the Service's DNS name, and {@code secrets} standing for its Secret references.
     */
    private Result runTestPod(Rendered r, ServerProcess server, Map<String, String> secrets) throws Exception {
        Pod pod = r.get(Pod.class, FULLNAME + "-test-push-pull");
        Container c = pod.getSpec().getContainers().get(0);
        assertEquals(List.of("/bin/sh", "-c"), c.getCommand().subList(0, 2));
        ProcessBuilder pb = new ProcessBuilder(c.getCommand()).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Path log = Files.createTempFile(work, "helm-test", ".log");
        pb.redirectOutput(log.toFile());
        Map<String, String> env = pb.environment();
        env.keySet().removeIf(k -> k.startsWith("LC_"));
        for (EnvVar v : c.getEnv()) {
            if (v.getValue() != null) {
                env.put(v.getName(), v.getValue());
            } else {
                String value = secrets.get(v.getName());
                assertTrue(value != null, "the test gives no value for " + v.getName());
                env.put(v.getName(), value);
            }
        }
        assertEquals("http://" + FULLNAME + ".build.svc.cluster.local:5000", env.get("LC_URL"));
        env.put("LC_URL", "http://127.0.0.1:" + server.port());
        env.put("TMPDIR", work.toString());
        Process p = pb.start();
        assertTrue(p.waitFor(90, TimeUnit.SECONDS), "the test script did not finish");
        return new Result(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
    }
}
