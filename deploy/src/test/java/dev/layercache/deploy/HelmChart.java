package dev.layercache.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.introspect.Annotated;
import com.fasterxml.jackson.databind.introspect.JacksonAnnotationIntrospector;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import com.marcnuri.helm.TemplateCommand;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The chart in {@code deploy/helm/layercache}, driven through the real Helm library (helm-java:
 * Helm's Go code with its native library, no {@code helm} binary), and what it renders parsed
 * strictly: every object of a kind the chart makes into its fabric8 Kubernetes model class with
 * unknown fields refused, the Prometheus Operator's objects (CRDs, not in that model) as plain
 * YAML trees. A misspelt field (a {@code readinesProbe}) is then an error here rather than a field
 * the API server silently drops.
 */
final class HelmChart {
    static final Path ROOT = Path.of(System.getProperty("layercache.repoRoot", "..")).toAbsolutePath().normalize();
    static final Path CHART = ROOT.resolve("deploy/helm/layercache");
    static final Path TEST_VALUES = ROOT.resolve("deploy/src/test/resources/helm");
    static final String RELEASE = "cache";
    static final String NAMESPACE = "build";
    /** The objects' names with release {@link #RELEASE}. */
    static final String FULLNAME = "cache-layercache";

    static final YAMLMapper YAML = new YAMLMapper();

    /**
     * Reads the fabric8 model classes strictly. Those classes keep unknown fields in an
     * {@code additionalProperties} map through {@code @JsonAnySetter}, which Jackson then never
     * reports: this mapper disregards any-setters, so that FAIL_ON_UNKNOWN_PROPERTIES applies.
     */
    static final ObjectMapper STRICT = new YAMLMapper()
            .setAnnotationIntrospector(new JacksonAnnotationIntrospector() {
                @Override
                public Boolean hasAnySetter(Annotated a) {
                    return Boolean.FALSE;
                }
            })
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .enable(DeserializationFeature.FAIL_ON_NUMBERS_FOR_ENUMS);

    /** The kinds the chart may render, with the model class each is read into. */
    private static final Map<String, Class<? extends HasMetadata>> KINDS = Map.of(
            "v1/ConfigMap", ConfigMap.class,
            "v1/Secret", Secret.class,
            "v1/Service", Service.class,
            "v1/ServiceAccount", ServiceAccount.class,
            "v1/Pod", Pod.class,
            "apps/v1/StatefulSet", StatefulSet.class,
            "policy/v1/PodDisruptionBudget", PodDisruptionBudget.class,
            "networking.k8s.io/v1/Ingress", Ingress.class);
    /** Custom resources of the Prometheus Operator: checked as trees. */
    private static final List<String> CUSTOM_KINDS = List.of(
            "monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule");

    private HelmChart() {
    }

    /** What {@code helm template} rendered: the objects, parsed. */
    record Rendered(String text, List<HasMetadata> objects, List<JsonNode> customResources) {
        <T extends HasMetadata> List<T> all(Class<T> type) {
            return objects.stream().filter(type::isInstance).map(type::cast).toList();
        }

        <T extends HasMetadata> Optional<T> find(Class<T> type, String name) {
            return all(type).stream().filter(o -> name.equals(o.getMetadata().getName())).findFirst();
        }

        <T extends HasMetadata> T get(Class<T> type, String name) {
            return find(type, name).orElseGet(() -> fail("no " + type.getSimpleName() + " " + name + " in:\n" + names()));
        }

        Optional<JsonNode> custom(String kind) {
            return customResources.stream().filter(n -> kind.equals(n.path("kind").asText())).findFirst();
        }

        StatefulSet statefulSet() {
            return get(StatefulSet.class, FULLNAME);
        }

        String names() {
            List<String> out = new ArrayList<>();
            objects.forEach(o -> out.add(o.getKind() + "/" + o.getMetadata().getName()));
            customResources.forEach(c -> out.add(c.path("kind").asText() + "/" + c.path("metadata").path("name").asText()));
            return String.join("\n", out);
        }
    }

    /**
     * The annotation the {@code helm test} Pod's {@code helm.sh/hook} is renamed to in the copy
     * {@link #template} renders (see {@link #renderable()}).
     */
    static final String HOOK_ANNOTATION = "test.layercache.dev/helm.sh-hook";
    private static Path renderable;

    /**
     * A copy of the chart whose hooks render as plain manifests. helm-java's template returns
     * the release's manifest without its hooks (the CLI's {@code helm template} appends them), so
     * the test Pod would not be seen; Helm tells a hook by its {@code helm.sh/hook} annotation, and
     * in this copy that key is {@link #HOOK_ANNOTATION}, nothing else changed.
     */
    static synchronized Path renderable() {
        if (renderable == null) {
            try {
                Path copy = Files.createTempDirectory("layercache-chart").resolve("layercache");
                copyTree(CHART, copy);
                try (Stream<Path> files = Files.walk(copy.resolve("templates"))) {
                    for (Path f : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
                        String text = Files.readString(f);
                        Files.writeString(f, text.replace("helm.sh/hook:", HOOK_ANNOTATION + ":"));
                    }
                }
                renderable = copy;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return renderable;
    }

    /** {@code helm template cache deploy/helm/layercache -n build [-f file]... [--set k=v]...}, parsed. */
    static Rendered template(List<String> valuesFiles, Map<String, Object> sets) {
        TemplateCommand command = new Helm(renderable()).template().withName(RELEASE).withNamespace(NAMESPACE);
        for (String file : valuesFiles) {
            command = command.withValuesFile(TEST_VALUES.resolve(file));
        }
        for (Map.Entry<String, Object> set : sets.entrySet()) {
            command = command.set(set.getKey(), set.getValue());
        }
        return parse(command.call());
    }

    static Rendered template(String... valuesFiles) {
        return template(List.of(valuesFiles), Map.of());
    }

    /** Splits the rendered stream into documents and reads each strictly (see {@link #STRICT}). */
    static Rendered parse(String text) {
        List<HasMetadata> objects = new ArrayList<>();
        List<JsonNode> custom = new ArrayList<>();
        try (MappingIterator<JsonNode> docs = YAML.readerFor(JsonNode.class).readValues(text)) {
            while (docs.hasNext()) {
                JsonNode doc = docs.next();
                if (doc == null || doc.isNull() || doc.isEmpty()) {
                    continue;
                }
                String kind = doc.path("apiVersion").asText() + "/" + doc.path("kind").asText();
                if (CUSTOM_KINDS.contains(kind)) {
                    custom.add(doc);
                    continue;
                }
                Class<? extends HasMetadata> type = KINDS.get(kind);
                assertNotNull(type, () -> "the chart rendered a kind this test does not know: " + kind + "\n" + doc);
                objects.add(strict(doc, type));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("the rendered manifests are not YAML:\n" + text, e);
        }
        return new Rendered(text, objects, custom);
    }

    static <T> T strict(JsonNode doc, Class<T> type) {
        try {
            return STRICT.treeToValue(doc, type);
        } catch (IOException e) {
            return fail("not a valid " + type.getSimpleName() + " (" + e.getMessage() + "):\n" + doc, e);
        }
    }

    /**
     * {@code helm lint --strict} with the chart's values.yaml replaced by the defaults with
     * {@code overrides} merged over them (the library's lint takes no {@code -f}), on a copy.
     */
    static LintResult lint(Path work, JsonNode overrides) {
        Path copy = work.resolve("layercache");
        copyTree(CHART, copy);
        try {
            JsonNode values = YAML.readTree(CHART.resolve("values.yaml").toFile());
            if (overrides != null) {
                values = merge(values.deepCopy(), overrides);
            }
            YAML.writeValue(copy.resolve("values.yaml").toFile(), values);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new Helm(copy).lint().strict().call();
    }

    static JsonNode readValues(String file) {
        try {
            return YAML.readTree(TEST_VALUES.resolve(file).toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Helm's own coalescing: maps merge key by key, anything else is replaced. */
    static JsonNode merge(JsonNode base, JsonNode over) {
        if (!(base instanceof ObjectNode target) || !over.isObject()) {
            return over;
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = over.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode current = target.get(e.getKey());
            target.set(e.getKey(), current == null ? e.getValue() : merge(current, e.getValue()));
        }
        return target;
    }

    /** Copies a directory, following symbolic links (as Helm's loader does). */
    static void copyTree(Path from, Path to) {
        try (Stream<Path> files = Files.walk(from)) {
            for (Path source : (Iterable<Path>) files::iterator) {
                Path target = to.resolve(from.relativize(source).toString());
                if (Files.isDirectory(source)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(source, target, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void assertLintPasses(LintResult result) {
        assertTrue(!result.isFailed(), () -> "helm lint failed: " + result.getMessages());
        assertEquals(List.of(), result.getMessages().stream()
                .filter(m -> !m.startsWith("[INFO]")).toList(), "helm lint --strict: warnings or errors");
    }
}
