package dev.layercache.server.analysis;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.MediaTypes;
import dev.layercache.server.core.Reference;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.core.manifest.BuildKitCache;
import dev.layercache.server.core.manifest.Descriptor;
import dev.layercache.server.core.manifest.ImageConfig;
import dev.layercache.server.core.manifest.ImageIndex;
import dev.layercache.server.core.manifest.ImageManifest;
import dev.layercache.server.core.manifest.Manifest;
import dev.layercache.server.core.manifest.ManifestParser;
import dev.layercache.server.core.manifest.Platform;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.Keys;
import dev.layercache.server.metadata.ManifestIndex.StoredManifest;
import dev.layercache.server.metadata.Table;
import dev.layercache.server.registry.BlobService;
import dev.layercache.server.registry.ManifestService;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;

/**
 * Layer analysis of manifests ({@code /api/v1/analysis}) and sharing of layers across the cache
 * ({@code /api/v1/sharing}).
 *
 * <p>What is analysed: an image manifest (OCI or Docker), its layers in order with instructions from
 * the config's history; a BuildKit cache manifest (config {@value MediaTypes#BUILDKIT_CACHE_CONFIG})
 * or cache index (a child of that type), its layers in the order listed, instructions
 * {@code "unknown"} (the cache config names cache keys, not instructions), stacked as one file
 * system although a cache may hold several chains; an image index, each platform manifest
 * (or only {@code platform=os/arch[/variant]}).
 *
 * <p>Caching: a manifest is content-addressed, so its analysis never changes; results are kept by
 * manifest digest and {@link AnalysisRules#VERSION} in a bounded in-memory LRU and in the node-local
 * {@link Table#ANALYSES} table (survives restarts; one small JSON document per analysed manifest).
 * Concurrent requests for the same manifest share one computation. A failed analysis (a corrupt or
 * missing layer) is never cached.
 */
public final class AnalysisService {
    /** Analyses kept in memory (each a JSON document of a few KiB to a few tens of KiB). */
    public static final int MEMORY_ENTRIES = 256;
    /**
     * Analyses computed at once. Each holds a thread of the blocking pool for as long as its layers
     * take to stream (seconds to minutes for big images); past this, a request that needs a new
     * computation is refused with 429 and Retry-After, so uploads and pulls keep their threads.
     * Answers from the cache are never limited.
     */
    public static final int MAX_RUNNING = 2;
    /** Largest config blob read for its history. */
    private static final long MAX_CONFIG_BYTES = 4 << 20;

    private final ManifestService manifests;
    private final BlobService blobs;
    private final KeyValueStore cacheStore;
    private final ObjectMapper json;
    private final ManifestParser parser;
    private final SharingReport sharing;
    private final Map<String, byte[]> lru;
    private final ConcurrentHashMap<String, CompletableFuture<byte[]>> running = new ConcurrentHashMap<>();
    private final AtomicLong computed = new AtomicLong();
    private final java.util.concurrent.Semaphore slots = new java.util.concurrent.Semaphore(MAX_RUNNING);

    /**
     * @param manifestStore the store the manifests live in (the shared one in a cluster), scanned by {@link #sharing}
     * @param cacheStore    the node's own store, for the persistent cache of results
     * @param lruEntries    analyses kept in memory
     */
    public AnalysisService(ManifestService manifests, BlobService blobs, KeyValueStore manifestStore,
                           KeyValueStore cacheStore, ObjectMapper json, int lruEntries) {
        this.manifests = manifests;
        this.blobs = blobs;
        this.cacheStore = cacheStore;
        this.json = json;
        this.parser = new ManifestParser(json);
        this.sharing = new SharingReport(manifestStore, parser, json);
        this.lru = java.util.Collections.synchronizedMap(new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, byte[]> eldest) {
                return size() > lruEntries;
            }
        });
    }

    /** How many analyses were computed (not served from a cache) since start. */
    public long computed() {
        return computed.get();
    }

    /**
     * The analysis of the manifest {@code reference} names in {@code repo}.
     *
     * @param platform {@code os/arch[/variant]} to pick one child of an image index, or null for all
     */
    public ObjectNode analyze(RepositoryName repo, Reference reference, String platform) {
        StoredManifest m = manifests.get(repo, reference);
        Manifest root = parse(m);
        ObjectNode out;
        if (root instanceof ImageIndex index && index.buildKitCacheConfig() == null) {
            out = index(repo, m, index, platform);
        } else {
            out = cachedOrComputed(repo, m, root);
        }
        ObjectNode answer = json.createObjectNode();
        answer.put("repository", repo.toString());
        answer.put("reference", reference.toString());
        answer.setAll(out);
        return answer;
    }

    private ObjectNode index(RepositoryName repo, StoredManifest m, ImageIndex root, String platform) {
        ObjectNode out = json.createObjectNode();
        out.put("manifest_digest", m.digest().toString());
        out.put("media_type", m.mediaType());
        out.put("kind", "index");
        ArrayNode children = out.putArray("manifests");
        boolean allCached = true;
        List<String> platforms = new ArrayList<>();
        for (Descriptor d : root.manifests()) {
            String p = platformOf(d.platform());
            platforms.add(p + " " + d.digest());
            if (platform != null && !platform.equals(p)) {
                continue;
            }
            Digest child = d.digest();
            StoredManifest cm = manifests.get(repo, new Reference.ByDigest(child));
            Manifest croot = parse(cm);
            if (croot instanceof ImageIndex ci && ci.buildKitCacheConfig() == null) {
                throw new RegistryException(ErrorCode.ANALYSIS_UNSUPPORTED,
                        "index " + m.digest() + " nests index " + child + ": analyse that one by digest");
            }
            ObjectNode a = cachedOrComputed(repo, cm, croot);
            allCached &= a.path("cached").asBoolean();
            ObjectNode c = children.addObject();
            c.put("platform", p);
            c.setAll(a);
        }
        if (children.isEmpty()) {
            throw new RegistryException(ErrorCode.ANALYSIS_UNSUPPORTED, "index " + m.digest()
                    + " has no manifest for platform " + platform + "; it has: " + String.join(", ", platforms));
        }
        out.put("cached", allCached);
        return out;
    }

    /** The key prefix of the analyses the current rules make; the lifecycle prunes every other. */
    public static String cacheKeyPrefix() {
        return "v" + AnalysisRules.VERSION + "\0";
    }

    private ObjectNode cachedOrComputed(RepositoryName repo, StoredManifest m, Manifest root) {
        String key = cacheKeyPrefix() + m.digest();
        byte[] bytes = lru.get(key);
        boolean cached = bytes != null;
        if (bytes == null) {
            bytes = cacheStore.get(Table.ANALYSES, Keys.utf8(key));
            if (bytes != null) {
                lru.put(key, bytes);
                cached = true;
            }
        }
        if (bytes == null) {
            CompletableFuture<byte[]> mine = new CompletableFuture<>();
            CompletableFuture<byte[]> theirs = running.putIfAbsent(key, mine);
            if (theirs == null) {
                if (!slots.tryAcquire()) {
                    running.remove(key, mine);
                    mine.completeExceptionally(busy());
                    throw busy();
                }
                try {
                    bytes = compute(repo, m, root);
                    KeyValueStore.Batch batch = cacheStore.batch();
                    batch.put(Table.ANALYSES, Keys.utf8(key), bytes);
                    batch.commit(false);
                    lru.put(key, bytes);
                    mine.complete(bytes);
                } catch (RuntimeException e) {
                    mine.completeExceptionally(e);
                    throw e;
                } finally {
                    slots.release();
                    running.remove(key, mine);
                }
            } else {
                bytes = await(theirs);
                cached = true;
            }
        }
        try {
            ObjectNode node = (ObjectNode) json.readTree(bytes);
            node.put("cached", cached);
            return node;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static RegistryException busy() {
        return new RegistryException(ErrorCode.TOO_MANY_REQUESTS, MAX_RUNNING
                + " analyses are running on this node; try again shortly", 5L);
    }

    private static byte[] await(CompletableFuture<byte[]> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RegistryException(ErrorCode.UNAVAILABLE, "interrupted while waiting for an analysis");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException(e.getCause());
        }
    }

    private byte[] compute(RepositoryName repo, StoredManifest m, Manifest root) {
        computed.incrementAndGet();
        String kind;
        String configType;
        List<Descriptor> layerDescriptors;
        List<String> instructions;
        BuildKitCache cache = BuildKitCache.of(root).orElse(null);
        if (cache != null) {
            kind = "buildkit-cache";
            configType = MediaTypes.BUILDKIT_CACHE_CONFIG;
            layerDescriptors = cache.layers();
            instructions = List.of();
        } else if (root instanceof ImageManifest image) {
            configType = image.config() == null ? null : image.config().mediaType();
            layerDescriptors = image.layers();
            kind = image.config() != null ? "image" : "artifact";
            instructions = image.config() != null ? history(repo, m, image.config()) : List.of();
        } else {
            // An index of images never gets here (analyze() takes its children one by one).
            kind = "artifact";
            configType = null;
            layerDescriptors = List.of();
            instructions = List.of();
        }
        LayerAnalyzer analyzer = new LayerAnalyzer();
        for (int i = 0; i < layerDescriptors.size(); i++) {
            Descriptor d = layerDescriptors.get(i);
            String mediaType = d.mediaType() == null ? "" : d.mediaType();
            String digestText = d.digest().toString();
            long size = d.size();
            String instruction = i < instructions.size() ? instructions.get(i) : null;
            LayerAnalyzer.LayerInfo info = new LayerAnalyzer.LayerInfo(digestText, mediaType, size, instruction);
            if (!isFileSystemLayer(mediaType)) {
                analyzer.skip(info, "not a file-system layer (media type " + mediaType + ")");
                continue;
            }
            Digest digest = d.digest();
            if (!d.urls().isEmpty() && !blobs.holds(repo, digest)) {
                analyzer.skip(info, "foreign layer, not stored here");
                continue;
            }
            BlobService.OpenBlob blob = open(repo, m, digest, "layer " + i);
            try (InputStream in = new BufferedInputStream(blob.content().stream(), 1 << 16)) {
                analyzer.add(info, in);
            } catch (UnreadableLayerException e) {
                throw new RegistryException(ErrorCode.LAYER_INVALID, "manifest " + m.digest() + ": "
                        + e.getMessage(), e.digest());
            } catch (IOException e) {
                throw new UncheckedIOException("reading layer " + digest, e);
            }
        }
        ObjectNode out = json.createObjectNode();
        out.put("manifest_digest", m.digest().toString());
        out.put("media_type", m.mediaType());
        out.put("kind", kind);
        if (configType != null) {
            out.put("config_media_type", configType);
        }
        out.put("rules_version", AnalysisRules.VERSION);
        out.setAll(analyzer.report(json));
        try {
            return json.writeValueAsBytes(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The instruction of each history entry that made a layer, in order (see {@link ImageConfig}). */
    private List<String> history(RepositoryName repo, StoredManifest m, Descriptor config) {
        if (config.size() > MAX_CONFIG_BYTES) {
            return List.of();
        }
        BlobService.OpenBlob blob = open(repo, m, config.digest(), "config");
        byte[] bytes;
        try (InputStream in = blob.content().stream()) {
            bytes = in.readNBytes((int) MAX_CONFIG_BYTES);
        } catch (IOException e) {
            return List.of(); // instructions unknown, layers still analysed
        }
        // A config that is not JSON: instructions unknown as well.
        return parser.parseImageConfig(bytes).map(ImageConfig::layerInstructions).orElse(List.of());
    }

    private BlobService.OpenBlob open(RepositoryName repo, StoredManifest m, Digest digest, String what) {
        try {
            return blobs.open(repo, digest);
        } catch (RegistryException e) {
            if (e.code() == ErrorCode.BLOB_UNKNOWN) {
                throw new RegistryException(ErrorCode.BLOB_UNKNOWN, "manifest " + m.digest() + " of " + repo
                        + " references " + what + " " + digest + ", which is not in the repository", digest.toString());
            }
            throw e;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Logical against physical layer bytes over every manifest of the repositories
     * {@code readable} accepts (see {@link SharingReport}).
     */
    public ObjectNode sharing(Predicate<String> readable) {
        return sharing.of(readable);
    }

    // --- helpers ----------------------------------------------------------------------------------

    private Manifest parse(StoredManifest m) {
        return parser.parseStored(m.mediaType(), m.content());
    }

    /** Layer media types that hold a tar (plain or compressed); an empty type is tried too. */
    static boolean isFileSystemLayer(String mediaType) {
        return mediaType.isEmpty() || mediaType.contains(".tar") || mediaType.contains("rootfs.diff")
                || mediaType.endsWith("layer.v1") || MediaTypes.OCTET_STREAM.equals(mediaType);
    }

    private static String platformOf(Platform p) {
        return p == null ? "unknown" : p.label();
    }
}
