package dev.layercache.deploy;

import static dev.layercache.deploy.HelmChart.FULLNAME;
import static dev.layercache.deploy.HelmChart.YAML;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.marcnuri.helm.LintResult;
import dev.layercache.deploy.HelmChart.Rendered;
import dev.layercache.server.config.ConfigLoader;
import dev.layercache.server.config.ServerConfig;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Helm chart, linted and rendered by the real Helm library with its default values, with a
 * cluster + TLS + access-control set of values ({@code src/test/resources/helm/cluster-tls-auth.yaml})
 * and with every secret in the operator's own Secrets ({@code existing-secrets.yaml}); what it
 * renders is parsed strictly (unknown fields refused) and the configuration it gives a node is
 * loaded by the server's own configuration loader. No Kubernetes cluster and no Docker: see
 * {@code deploy/helm/layercache/README.md} for what that leaves unchecked.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HelmChartTest {
    private static final long MIB = 1024L * 1024;
    private static final long GIB = 1024 * MIB;

    @TempDir
    Path work;

    // ------------------------------------------------------------------ default values

    @Test
    void defaultValuesLintCleanly() {
        HelmChart.assertLintPasses(HelmChart.lint(work, null));
    }

    @Test
    void defaultValuesRenderOneStandaloneNodeOnItsOwnVolume() {
        Rendered r = HelmChart.template();
        StatefulSet sts = r.statefulSet();
        assertEquals(1, sts.getSpec().getReplicas());
        assertEquals(FULLNAME + "-peers", sts.getSpec().getServiceName());

        PersistentVolumeClaim claim = sts.getSpec().getVolumeClaimTemplates().get(0);
        assertEquals("data", claim.getMetadata().getName());
        assertEquals("50Gi", claim.getSpec().getResources().getRequests().get("storage").toString());
        assertNull(claim.getSpec().getStorageClassName(), "empty storageClass: the cluster's default");
        assertEquals("/data", mount(container(sts), "data").getMountPath());

        // max-disk-size from the volume: 75% of 50 GiB, in MiB
        Map<String, Object> config = configFile(r);
        assertEquals("38400MiB", config.get("max-disk-size"));
        assertEquals(Map.of("max-disk-size", "38400MiB"), config, "nothing else without values");
        assertFalse(env(container(sts)).containsKey("LAYERCACHE_S3_BUCKET"));

        // the heap a fraction of the memory limit
        Container c = container(sts);
        assertEquals(List.of("java", "-XX:MaxRAMPercentage=50", "-XX:+ExitOnOutOfMemoryError", "-jar",
                "/app/layercache-server.jar"), c.getCommand());
        assertEquals("2Gi", c.getResources().getLimits().get("memory").toString());

        // no Secret, no monitoring objects, no Ingress unless asked
        assertEquals(List.of(), r.all(Secret.class));
        assertEquals(List.of(), r.all(Ingress.class));
        assertTrue(r.customResources().isEmpty(), r::names);
    }

    @Test
    void nodesRunAsTheImagesUserOnAReadOnlyRootWithTmpAnEmptyDir() {
        StatefulSet sts = HelmChart.template().statefulSet();
        PodSpec pod = sts.getSpec().getTemplate().getSpec();
        assertTrue(pod.getSecurityContext().getRunAsNonRoot());
        assertEquals(10001L, pod.getSecurityContext().getRunAsUser());
        assertEquals(10001L, pod.getSecurityContext().getRunAsGroup());
        assertEquals(10001L, pod.getSecurityContext().getFsGroup(), "the volume writable by the server");
        assertEquals("RuntimeDefault", pod.getSecurityContext().getSeccompProfile().getType());
        Container c = container(sts);
        assertTrue(c.getSecurityContext().getReadOnlyRootFilesystem());
        assertFalse(c.getSecurityContext().getAllowPrivilegeEscalation());
        assertEquals(List.of("ALL"), c.getSecurityContext().getCapabilities().getDrop());
        // what the server writes outside /data: the JVM's temporary files (native libraries)
        assertEquals("/tmp", mount(c, "tmp").getMountPath());
        assertTrue(volume(pod, "tmp").getEmptyDir() != null);
        assertFalse(pod.getAutomountServiceAccountToken());
    }

    @Test
    void probesAreHealthzForLivenessAndReadyzForReadiness() {
        Container c = container(HelmChart.template().statefulSet());
        assertProbe(c.getLivenessProbe(), "/healthz", "HTTP");
        assertProbe(c.getStartupProbe(), "/healthz", "HTTP");
        assertProbe(c.getReadinessProbe(), "/readyz", "HTTP");
        assertEquals(Map.of("http", 5000, "grpc", 9092), c.getPorts().stream()
                .collect(Collectors.toMap(p -> p.getName(), p -> p.getContainerPort())));
    }

    @Test
    void servicesForBothPortsAHeadlessOneForDnsAndThePeersOne() {
        Rendered r = HelmChart.template();
        Map<String, String> podLabels = r.statefulSet().getSpec().getTemplate().getMetadata().getLabels();

        Service main = r.get(Service.class, FULLNAME);
        assertEquals("ClusterIP", main.getSpec().getType());
        assertEquals(Map.of("http", 5000, "grpc", 9092), ports(main));
        assertEquals("kubernetes.io/h2c", port(main, "grpc").getAppProtocol());

        Service headless = r.get(Service.class, FULLNAME + "-headless");
        assertEquals("None", headless.getSpec().getClusterIP());
        assertEquals(Map.of("http", 5000, "grpc", 9092), ports(headless));
        assertTrue(headless.getSpec().getPublishNotReadyAddresses() == null
                || !headless.getSpec().getPublishNotReadyAddresses(), "dns:/// clients get ready nodes only");

        Service peers = r.get(Service.class, FULLNAME + "-peers");
        assertEquals("None", peers.getSpec().getClusterIP());
        assertTrue(peers.getSpec().getPublishNotReadyAddresses(), "a stopping node keeps its name");

        for (Service s : List.of(main, headless, peers)) {
            assertTrue(podLabels.entrySet().containsAll(s.getSpec().getSelector().entrySet()),
                    s.getMetadata().getName() + " selects the nodes");
        }
    }

    @Test
    void podDisruptionBudgetSelectsTheNodes() {
        Rendered r = HelmChart.template();
        PodDisruptionBudget pdb = r.get(PodDisruptionBudget.class, FULLNAME);
        assertEquals(1, pdb.getSpec().getMaxUnavailable().getIntVal());
        assertNull(pdb.getSpec().getMinAvailable());
        assertTrue(r.statefulSet().getSpec().getTemplate().getMetadata().getLabels().entrySet()
                .containsAll(pdb.getSpec().getSelector().getMatchLabels().entrySet()));
        assertEquals(r.statefulSet().getSpec().getSelector().getMatchLabels(), pdb.getSpec().getSelector().getMatchLabels());
    }

    @Test
    void theHelmTestIsAHookPod() {
        Pod test = HelmChart.template().get(Pod.class, FULLNAME + "-test-push-pull");
        assertEquals("test", test.getMetadata().getAnnotations().get(HelmChart.HOOK_ANNOTATION));
        assertEquals("before-hook-creation,hook-succeeded",
                test.getMetadata().getAnnotations().get("helm.sh/hook-delete-policy"));
        assertEquals("Never", test.getSpec().getRestartPolicy());
        assertEquals("curlimages/curl:8.11.1", test.getSpec().getContainers().get(0).getImage());
        assertEquals("http://" + FULLNAME + ".build.svc.cluster.local:5000",
                env(test.getSpec().getContainers().get(0)).get("LC_URL"));
        assertEquals("curl.example/curl:v1", HelmChart.template(List.of(),
                        Map.of("tests.image.repository", "curl.example/curl", "tests.image.tag", "v1"))
                .get(Pod.class, FULLNAME + "-test-push-pull").getSpec().getContainers().get(0).getImage());
    }

    @Test
    void theDefaultConfigurationLoadsInTheServer() throws Exception {
        Rendered r = HelmChart.template();
        ServerConfig config = load(r, Map.of());
        assertEquals(38400 * MIB, config.lifecycle().maxDisk().bytes());
        assertEquals(Path.of("/data"), config.dataDir());
        assertEquals(5000, config.httpPort());
        assertEquals(9092, config.grpcPort());
        assertFalse(config.cluster().enabled());
    }

    // ------------------------------------------------------------------ cluster, TLS, auth

    @Test
    void clusterTlsAuthValuesLintCleanly() {
        HelmChart.assertLintPasses(HelmChart.lint(work, HelmChart.readValues("cluster-tls-auth.yaml")));
    }

    @Test
    void clusterModeSharesTheBucketAndEachNodeAdvertisesItsStableName() throws Exception {
        Rendered r = HelmChart.template("cluster-tls-auth.yaml");
        StatefulSet sts = r.statefulSet();
        assertEquals(3, sts.getSpec().getReplicas());
        Container c = container(sts);

        Map<String, Object> file = configFile(r);
        assertEquals("layercache-ci", file.get("s3-bucket"));
        assertEquals("http://minio.storage.svc:9000", file.get("s3-endpoint"));
        assertEquals("eu-west-1", file.get("s3-region"));
        assertEquals("fleet-a", file.get("s3-prefix"));
        assertEquals(true, file.get("s3-path-style"));
        // settings from config: reach the file as they are
        assertEquals("14d", file.get("max-age"));
        assertEquals("2TiB", file.get("s3-max-size"));
        assertEquals("team/ci:max-disk-size=50GiB,max-age=7d", file.get("namespace-limits"));
        // max-disk-size: 80% of 200Gi
        assertEquals((200 * 1024 * 80 / 100) + "MiB", file.get("max-disk-size"));

        // the node URL: the pod's name through the peers Service, https with TLS
        assertEquals("https://$(POD_NAME)." + FULLNAME + "-peers.build.svc.cluster.local:5000",
                env(c).get("LAYERCACHE_NODE_URL"));
        EnvVar podName = envVar(c, "POD_NAME");
        assertEquals("metadata.name", podName.getValueFrom().getFieldRef().getFieldPath());

        // the bucket's credentials from the chart's Secret, by name and key
        Secret bucket = r.get(Secret.class, FULLNAME + "-bucket");
        assertSecretRef(c, "AWS_ACCESS_KEY_ID", FULLNAME + "-bucket", "access-key-id");
        assertSecretRef(c, "AWS_SECRET_ACCESS_KEY", FULLNAME + "-bucket", "secret-access-key");
        assertEquals("AKIDEXAMPLE", decode(bucket, "access-key-id"));
        assertEquals("wJalrXUtnFEMI-example", decode(bucket, "secret-access-key"));
        assertFalse(r.text().contains("wJalrXUtnFEMI-example"), "secrets only base64 in a Secret");

        // extraEnv appended as given
        assertEquals("500", env(c).get("LAYERCACHE_RATE_LIMIT"));
        assertSecretRef(c, "HUB_TOKEN", "hub-credentials", "token");

        // the JVM: heap fraction and extra flags before -jar
        assertEquals(List.of("java", "-XX:MaxRAMPercentage=40", "-XX:+ExitOnOutOfMemoryError", "-XX:+UseZGC",
                "-jar", "/app/layercache-server.jar"), c.getCommand());

        PersistentVolumeClaim claim = sts.getSpec().getVolumeClaimTemplates().get(0);
        assertEquals("fast-ssd", claim.getSpec().getStorageClassName());
        assertEquals("200Gi", claim.getSpec().getResources().getRequests().get("storage").toString());
    }

    @Test
    void tlsAndAccessControlFilesAreMountedFromTheChartsSecrets() {
        Rendered r = HelmChart.template("cluster-tls-auth.yaml");
        StatefulSet sts = r.statefulSet();
        Container c = container(sts);
        PodSpec pod = sts.getSpec().getTemplate().getSpec();

        assertProbe(c.getLivenessProbe(), "/healthz", "HTTPS");
        assertProbe(c.getReadinessProbe(), "/readyz", "HTTPS");
        assertNull(port(r.get(Service.class, FULLNAME), "grpc").getAppProtocol(), "h2c only without TLS");

        Secret tls = r.get(Secret.class, FULLNAME + "-tls");
        assertEquals("kubernetes.io/tls", tls.getType());
        assertTrue(decode(tls, "tls.crt").contains("BEGIN CERTIFICATE"));
        assertTrue(decode(tls, "ca.crt").contains("BEGIN CERTIFICATE"));
        assertEquals(FULLNAME + "-tls", volume(pod, "tls").getSecret().getSecretName());
        assertEquals("/etc/layercache/tls", mount(c, "tls").getMountPath());
        assertNull(mount(c, "tls").getSubPath(), "a subPath mount would not see a renewed certificate");
        assertEquals(FULLNAME + "-tls", volume(pod, "grpc-client-ca").getSecret().getSecretName());

        Secret auth = r.get(Secret.class, FULLNAME + "-auth");
        assertTrue(decode(auth, "htpasswd").startsWith("ci:$2y$05$"));
        assertEquals(Map.of("htpasswd", "htpasswd", "tokens", "tokens", "rules.yaml", "rules.yaml"),
                items(volume(pod, "auth")));
        assertSecretRef(c, "LAYERCACHE_NODE_TOKEN", FULLNAME + "-auth", "node-token");

        Map<String, Object> file = configFile(r);
        assertEquals("/etc/layercache/tls/tls.crt", file.get("tls-cert"));
        assertEquals("/etc/layercache/tls/tls.key", file.get("tls-key"));
        assertEquals("/etc/layercache/grpc-client-ca/ca.crt", file.get("grpc-client-ca"));
        assertEquals("/etc/layercache/auth/htpasswd", file.get("auth-htpasswd"));
        assertEquals("/etc/layercache/auth/tokens", file.get("auth-tokens"));
        assertEquals("/etc/layercache/auth/rules.yaml", file.get("auth-rules"));
        assertFalse(r.get(ConfigMap.class, FULLNAME).getData().get("config.yaml").contains("node-token-example"),
                "no secret in the ConfigMap");

        Pod test = r.get(Pod.class, FULLNAME + "-test-push-pull");
        assertSecretRef(test.getSpec().getContainers().get(0), "LC_PASSWORD", "layercache-test-user", "password");
        assertEquals("true", env(test.getSpec().getContainers().get(0)).get("LC_INSECURE"));

        Ingress ingress = r.get(Ingress.class, FULLNAME);
        assertEquals("cache.example.com", ingress.getSpec().getRules().get(0).getHost());
        assertEquals("http", ingress.getSpec().getRules().get(0).getHttp().getPaths().get(0)
                .getBackend().getService().getPort().getName());
    }

    @Test
    void clusterTlsAuthConfigurationLoadsInTheServer() throws Exception {
        Rendered r = HelmChart.template("cluster-tls-auth.yaml");
        ServerConfig config = load(r, Map.of("HUB_TOKEN", "hub-token-from-secret"));
        assertTrue(config.cluster().enabled());
        assertEquals("layercache-ci", config.cluster().s3Bucket());
        assertEquals("fleet-a", config.cluster().s3Prefix());
        assertTrue(config.cluster().s3PathStyle());
        assertEquals(200 * GIB * 80 / 100, config.lifecycle().maxDisk().bytes());
        Path root = work.resolve("root");
        assertEquals(root.resolve("etc/layercache/tls/tls.crt"), config.tls().certChain());
        assertEquals(root.resolve("etc/layercache/grpc-client-ca/ca.crt"), config.tls().grpcClientCa());
        assertEquals(root.resolve("etc/layercache/auth/htpasswd"), config.auth().htpasswd());
        assertEquals(root.resolve("etc/layercache/auth/rules.yaml"), config.auth().rules());
        assertEquals("node-token-example", config.auth().nodeToken());
        assertEquals(1, config.mirror().upstreams().size());
        assertEquals(500.0, config.limits().requestsPerSecond());
    }

    @Test
    void existingSecretsAreReferencedByNameAndNotRendered() {
        HelmChart.assertLintPasses(HelmChart.lint(work, HelmChart.readValues("existing-secrets.yaml")));
        Rendered r = HelmChart.template("existing-secrets.yaml");
        assertEquals(List.of(), r.all(Secret.class), "the operator's Secrets are not rendered");
        StatefulSet sts = r.statefulSet();
        Container c = container(sts);
        PodSpec pod = sts.getSpec().getTemplate().getSpec();
        assertSecretRef(c, "AWS_ACCESS_KEY_ID", "ops-bucket", "AWS_ACCESS_KEY_ID");
        assertSecretRef(c, "AWS_SECRET_ACCESS_KEY", "ops-bucket", "AWS_SECRET_ACCESS_KEY");
        assertSecretRef(c, "LAYERCACHE_NODE_TOKEN", "ops-auth", "node");
        assertEquals("cache-tls-from-cert-manager", volume(pod, "tls").getSecret().getSecretName());
        assertEquals("cache-tls-from-cert-manager", volume(pod, "grpc-client-ca").getSecret().getSecretName());
        assertEquals(Map.of("ca.crt", "ca.crt"), items(volume(pod, "grpc-client-ca")));
        assertEquals("ops-auth", volume(pod, "auth").getSecret().getSecretName());
        // the Secret's own key names, the server's fixed file names; rules left out
        assertEquals(Map.of("users", "htpasswd", "tokens.txt", "tokens"), items(volume(pod, "auth")));
        Map<String, Object> file = configFile(r);
        assertEquals("/etc/layercache/auth/htpasswd", file.get("auth-htpasswd"));
        assertFalse(file.containsKey("auth-rules"));
    }

    @Test
    void noCredentialsMeansTheSdksDefaultChain() {
        Rendered r = HelmChart.template(List.of(), Map.of("replicaCount", 2, "cluster.enabled", true,
                "cluster.bucket", "b", "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn", "arn:aws:iam::1:role/x"));
        assertEquals(List.of(), r.all(Secret.class));
        assertFalse(env(container(r.statefulSet())).containsKey("AWS_ACCESS_KEY_ID"));
        assertEquals("arn:aws:iam::1:role/x", r.get(io.fabric8.kubernetes.api.model.ServiceAccount.class, FULLNAME)
                .getMetadata().getAnnotations().get("eks.amazonaws.com/role-arn"));
    }

    @Test
    void anEmptyDirWhenPersistenceIsOffWithTheBudgetStillFromItsSize() {
        Rendered r = HelmChart.template(List.of(), Map.of("persistence.enabled", false, "persistence.size", "10G",
                "persistence.maxDiskPercent", 50));
        StatefulSet sts = r.statefulSet();
        assertTrue(sts.getSpec().getVolumeClaimTemplates() == null || sts.getSpec().getVolumeClaimTemplates().isEmpty());
        assertEquals("10G", volume(sts.getSpec().getTemplate().getSpec(), "data").getEmptyDir().getSizeLimit().toString());
        // 5e9 bytes = 4768.37 MiB, rounded down
        assertEquals("4768MiB", configFile(r).get("max-disk-size"));
        // an explicit max-disk-size wins over the derived one
        assertEquals("60%", configFile(HelmChart.template(List.of(), Map.of("config.max-disk-size", "60%")))
                .get("max-disk-size"));
    }

    // ------------------------------------------------------------------ refusals

    @Test
    void aWrongTypeFailsLintAndTemplateThroughTheSchema() {
        LintResult lint = HelmChart.lint(work, YAML.createObjectNode().put("replicaCount", "three"));
        assertTrue(lint.isFailed(), () -> "lint passed: " + lint.getMessages());
        assertTrue(lint.getMessages().toString().contains("replicaCount"), lint.getMessages()::toString);

        for (Map<String, Object> wrong : List.<Map<String, Object>>of(
                Map.of("replicaCount", "three"),
                Map.of("persistence.size", "lots"),
                Map.of("jvm.maxRAMPercentage", 120),
                Map.of("config.data-dir", "/elsewhere"),
                Map.of("cluster.pathStyle", "yes"),
                Map.of("unknownTopLevelValue", 1))) {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> HelmChart.template(List.of(), wrong), () -> "rendered with " + wrong);
            assertTrue(e.getMessage().contains("schema"), e::getMessage);
        }
    }

    @Test
    void severalNodesNeedClusterModeAndClusterModeABucket() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> HelmChart.template(List.of(), Map.of("replicaCount", 3)));
        assertTrue(e.getMessage().contains("replicaCount > 1 needs cluster.enabled"), e::getMessage);
        e = assertThrows(IllegalStateException.class,
                () -> HelmChart.template(List.of(), Map.of("cluster.enabled", true)));
        assertTrue(e.getMessage().contains("cluster.enabled needs cluster.bucket"), e::getMessage);
        e = assertThrows(IllegalStateException.class,
                () -> HelmChart.template(List.of(), Map.of("tls.enabled", true)));
        assertTrue(e.getMessage().contains("tls.enabled needs"), e::getMessage);
    }

    /** The strict reading itself: a misspelt field in a StatefulSet is refused, not dropped. */
    @Test
    void theStrictParserRefusesUnknownFields() throws Exception {
        String good = HelmChart.template().text();
        String typo = good.replace("readinessProbe:", "readinesProbe:");
        assertTrue(!typo.equals(good));
        org.opentest4j.AssertionFailedError e = assertThrows(org.opentest4j.AssertionFailedError.class,
                () -> HelmChart.parse(typo));
        assertTrue(e.getMessage().contains("readinesProbe"), e::getMessage);
    }

    // ------------------------------------------------------------------ helpers

    static Container container(StatefulSet sts) {
        List<Container> containers = sts.getSpec().getTemplate().getSpec().getContainers();
        assertEquals(1, containers.size());
        return containers.get(0);
    }

    /** Literal values of the container's variables (those from a reference map to null). */
    static Map<String, String> env(Container c) {
        Map<String, String> out = new LinkedHashMap<>();
        for (EnvVar v : c.getEnv()) {
            assertFalse(out.containsKey(v.getName()), "variable " + v.getName() + " twice");
            out.put(v.getName(), v.getValue());
        }
        return out;
    }

    static EnvVar envVar(Container c, String name) {
        return c.getEnv().stream().filter(v -> v.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no variable " + name + " in " + env(c).keySet()));
    }

    static void assertSecretRef(Container c, String variable, String secret, String key) {
        EnvVar v = envVar(c, variable);
        assertNull(v.getValue(), variable + " must not carry the secret itself");
        assertEquals(secret, v.getValueFrom().getSecretKeyRef().getName(), variable);
        assertEquals(key, v.getValueFrom().getSecretKeyRef().getKey(), variable);
    }

    static VolumeMount mount(Container c, String name) {
        return c.getVolumeMounts().stream().filter(m -> m.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no mount " + name));
    }

    static Volume volume(PodSpec pod, String name) {
        return pod.getVolumes().stream().filter(v -> v.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no volume " + name));
    }

    /** A Secret volume's items, key to path. */
    static Map<String, String> items(Volume v) {
        return v.getSecret().getItems().stream().collect(Collectors.toMap(i -> i.getKey(), i -> i.getPath()));
    }

    static Map<String, Integer> ports(Service s) {
        return s.getSpec().getPorts().stream().collect(Collectors.toMap(ServicePort::getName, ServicePort::getPort));
    }

    static ServicePort port(Service s, String name) {
        return s.getSpec().getPorts().stream().filter(p -> p.getName().equals(name)).findFirst().orElseThrow();
    }

    static void assertProbe(Probe probe, String path, String scheme) {
        assertEquals(path, probe.getHttpGet().getPath());
        assertEquals("http", probe.getHttpGet().getPort().getStrVal());
        assertEquals(scheme, probe.getHttpGet().getScheme());
    }

    static String decode(Secret s, String key) {
        String data = s.getData().get(key);
        assertTrue(data != null, () -> "no key " + key + " in Secret " + s.getMetadata().getName());
        return new String(Base64.getDecoder().decode(data), StandardCharsets.UTF_8);
    }

    /** The node's configuration file, from the ConfigMap. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> configFile(Rendered r) {
        try {
            return YAML.readValue(r.get(ConfigMap.class, FULLNAME).getData().get("config.yaml"), Map.class);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * What the server of the first node would load: the ConfigMap's file and the container's
     * environment as Kubernetes would give it (a reference into a Secret the chart made resolved
     * from it; {@code $(POD_NAME)} expanded), with {@code external} for Secrets not in the chart.
     * The Secret volumes are laid out under a temporary folder standing for the root, with the
     * files their items name, and the file's paths moved there.
     */
    ServerConfig load(Rendered r, Map<String, String> external) throws Exception {
        Path root = work.resolve("root");
        Container c = container(r.statefulSet());
        PodSpec pod = r.statefulSet().getSpec().getTemplate().getSpec();
        for (VolumeMount m : c.getVolumeMounts()) {
            Volume v = pod.getVolumes().stream().filter(x -> x.getName().equals(m.getName())).findFirst().orElse(null);
            if (v == null || v.getSecret() == null) { // the data volume is a claim template
                continue;
            }
            Secret secret = r.get(Secret.class, v.getSecret().getSecretName());
            for (var item : v.getSecret().getItems()) {
                Path f = root.resolve(m.getMountPath().substring(1)).resolve(item.getPath());
                Files.createDirectories(f.getParent());
                Files.writeString(f, decode(secret, item.getKey()));
            }
        }
        Path file = work.resolve("config.yaml");
        Files.writeString(file, r.get(ConfigMap.class, FULLNAME).getData().get("config.yaml")
                .replace("/etc/layercache/", root + "/etc/layercache/"));
        Map<String, String> env = new HashMap<>(external);
        for (EnvVar v : c.getEnv()) {
            if (v.getValue() != null) {
                env.put(v.getName(), v.getValue().replace("$(POD_NAME)", FULLNAME + "-0"));
            } else if (v.getValueFrom().getFieldRef() != null) {
                env.put(v.getName(), FULLNAME + "-0");
            } else if (v.getValueFrom().getSecretKeyRef() != null) {
                var ref = v.getValueFrom().getSecretKeyRef();
                r.find(Secret.class, ref.getName()).ifPresent(s -> env.put(v.getName(), decode(s, ref.getKey())));
            }
        }
        env.put("LAYERCACHE_CONFIG", file.toString());
        return ConfigLoader.load(new String[0], env);
    }
}
