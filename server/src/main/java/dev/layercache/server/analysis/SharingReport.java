package dev.layercache.server.analysis;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.layercache.server.core.manifest.BuildKitCache;
import dev.layercache.server.core.manifest.Descriptor;
import dev.layercache.server.core.manifest.ImageManifest;
import dev.layercache.server.core.manifest.Manifest;
import dev.layercache.server.core.manifest.ManifestParser;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.ManifestIndex;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.Predicate;

/**
 * How much the cache's layers are shared: logical against physical layer bytes over every
 * manifest of the repositories a caller may read. Logical sums each manifest's layers, physical
 * counts each distinct layer once. Memory grows with the number of distinct layers (a digest, a
 * size and the names of the repositories using it), never with the number of manifests.
 */
final class SharingReport {
    /** Most layers listed as shared, and most repositories. */
    static final int SHARING_TOP = 20;
    static final int SHARING_REPOSITORIES = 100;

    private final KeyValueStore manifestStore;
    private final ManifestParser parser;
    private final ObjectMapper json;

    /** @param manifestStore the store the manifests live in (the shared one in a cluster) */
    SharingReport(KeyValueStore manifestStore, ManifestParser parser, ObjectMapper json) {
        this.manifestStore = manifestStore;
        this.parser = parser;
        this.json = json;
    }

    private static final class Shared {
        final long size;
        long references;
        final TreeSet<String> repositories = new TreeSet<>();

        Shared(long size) {
            this.size = size;
        }
    }

    private static final class RepoUse {
        long manifests;
        long logical;
        final HashSet<String> layers = new HashSet<>();
    }

    /** The report over every manifest of the repositories {@code readable} accepts. */
    ObjectNode of(Predicate<String> readable) {
        Map<String, Boolean> allowed = new HashMap<>();
        Map<String, Shared> layers = new HashMap<>();
        Map<String, RepoUse> repos = new HashMap<>();
        long[] counts = new long[2]; // manifests, logical bytes
        new ManifestIndex(manifestStore).forEach((repository, m) -> {
            String repo = repository.toString();
            if (!allowed.computeIfAbsent(repo, readable::test)) {
                return;
            }
            Manifest root;
            try {
                root = parser.parseStored(m.mediaType(), m.content());
            } catch (RuntimeException unreadable) {
                return;
            }
            List<Descriptor> ls = root instanceof ImageManifest image ? image.layers()
                    : BuildKitCache.of(root).map(BuildKitCache::layers).orElse(List.of());
            if (ls.isEmpty()) {
                return;
            }
            counts[0]++;
            RepoUse use = repos.computeIfAbsent(repo, r -> new RepoUse());
            use.manifests++;
            for (Descriptor d : ls) {
                String digest = d.digest().toString();
                long size = Math.max(0, d.size());
                counts[1] += size;
                use.logical += size;
                use.layers.add(digest);
                Shared s = layers.computeIfAbsent(digest, x -> new Shared(size));
                s.references++;
                s.repositories.add(repo);
            }
        });
        long physical = 0;
        for (Shared s : layers.values()) {
            physical += s.size;
        }
        ObjectNode out = json.createObjectNode();
        out.put("manifests", counts[0]);
        out.put("repositories", repos.size());
        out.put("layers", layers.size());
        out.put("logical_bytes", counts[1]);
        out.put("physical_bytes", physical);
        out.put("saved_bytes", counts[1] - physical);
        out.put("sharing_ratio", physical == 0 ? 1.0 : Math.round(counts[1] * 1000.0 / physical) / 1000.0);
        List<Map.Entry<String, Shared>> shared = new ArrayList<>();
        for (Map.Entry<String, Shared> e : layers.entrySet()) {
            if (e.getValue().references > 1) {
                shared.add(e);
            }
        }
        shared.sort(Comparator.comparingLong((Map.Entry<String, Shared> e) ->
                (e.getValue().references - 1) * e.getValue().size).reversed().thenComparing(Map.Entry::getKey));
        out.put("shared_layers", shared.size());
        ArrayNode top = out.putArray("top_shared");
        for (Map.Entry<String, Shared> e : shared.subList(0, Math.min(SHARING_TOP, shared.size()))) {
            Shared s = e.getValue();
            ObjectNode o = top.addObject();
            o.put("digest", e.getKey());
            o.put("size", s.size);
            o.put("references", s.references);
            o.put("saved_bytes", (s.references - 1) * s.size);
            ArrayNode rs = o.putArray("repositories");
            s.repositories.forEach(rs::add);
        }
        List<Map.Entry<String, RepoUse>> byRepo = new ArrayList<>(repos.entrySet());
        byRepo.sort(Comparator.comparingLong((Map.Entry<String, RepoUse> e) -> e.getValue().logical).reversed()
                .thenComparing(Map.Entry::getKey));
        ArrayNode rs = out.putArray("by_repository");
        for (Map.Entry<String, RepoUse> e : byRepo.subList(0, Math.min(SHARING_REPOSITORIES, byRepo.size()))) {
            RepoUse u = e.getValue();
            long unique = 0;
            long distinct = 0;
            for (String d : u.layers) {
                Shared s = layers.get(d);
                distinct += s.size;
                if (s.repositories.size() == 1) {
                    unique += s.size;
                }
            }
            ObjectNode o = rs.addObject();
            o.put("repository", e.getKey());
            o.put("manifests", u.manifests);
            o.put("logical_bytes", u.logical);
            o.put("distinct_bytes", distinct);
            o.put("unique_bytes", unique);
            o.put("shared_bytes", distinct - unique);
        }
        return out;
    }
}
