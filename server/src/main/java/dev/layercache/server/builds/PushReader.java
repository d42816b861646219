package dev.layercache.server.builds;

import dev.layercache.server.builds.BuildRecord.Warning;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.Reference;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.core.manifest.BuildKitCache;
import dev.layercache.server.core.manifest.CacheConfig;
import dev.layercache.server.core.manifest.ImageConfig;
import dev.layercache.server.core.manifest.ImageManifest;
import dev.layercache.server.core.manifest.Manifest;
import dev.layercache.server.core.manifest.ManifestParser;
import dev.layercache.server.registry.BlobService;
import dev.layercache.server.storage.BlobContent;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What a pushed manifest carries for build insight: the BuildKit cache it is (a registry cache)
 * or holds (an inline cache), read from its config blob, with the hygiene warnings of
 * {@link BuildInsight}; and the instruction of a buildah step's image. Reads and parses, bounded
 * ({@link BuildInsight#MAX_CONFIG_READ_BYTES}, the parser's limits); keeps nothing.
 */
final class PushReader {
    /** The annotation with a layer's uncompressed digest on a manifest's descriptor (containerd's). */
    static final String UNCOMPRESSED = "containerd.io/uncompressed";

    /** A manifest push: where, under what, by whom, when. */
    record Push(RepositoryName repo, Reference reference, Digest digest, Manifest manifest, String who,
                Instant at) {
        String tag() {
            return reference instanceof Reference.ByTag t ? t.tag().toString() : null;
        }
    }

    /** What was made of one pushed export: its cache (null when unreadable) and its warnings. */
    record Export(Push push, String shape, CacheConfig config, Map<Digest, String> descriptions,
                  List<Warning> warnings) {
    }

    private final BlobService blobs;
    private final ManifestParser parser;

    PushReader(BlobService blobs, ManifestParser parser) {
        this.blobs = blobs;
        this.parser = parser;
    }

    /** A registry cache, in either shape. */
    Export registryCache(Push push, BuildKitCache cache) {
        String shape = cache.shape() == BuildKitCache.Shape.INDEX ? "index" : "image_manifest";
        List<Warning> warnings = new ArrayList<>();
        long size = cache.config().size();
        if (size > BuildInsight.MAX_IMPORTABLE_CONFIG_BYTES) {
            warnings.add(tooLarge(size));
        }
        Map<Digest, String> descriptions = ExportComparison.descriptions(cache);
        CacheConfig config = null;
        try {
            config = parser.parseCacheConfig(config(push.repo(), cache.config().digest(), size));
        } catch (RegistryException | IOException e) {
            warnings.add(unparsable("cache config " + cache.config().digest(), e));
        }
        Map<Digest, List<Digest>> byDiffId = new java.util.LinkedHashMap<>();
        for (var d : cache.layers()) {
            String diffId = d.annotations().get(UNCOMPRESSED);
            if (diffId != null && Digest.isValid(diffId)) {
                addCompression(byDiffId, Digest.parse(diffId), d.digest());
            }
        }
        if (config != null) {
            java.util.Set<Digest> listed = new java.util.HashSet<>();
            cache.layers().forEach(d -> listed.add(d.digest()));
            List<Digest> missing = new ArrayList<>();
            for (Digest blob : config.blobs()) {
                if (!listed.contains(blob) && !blobs.holds(push.repo(), blob)) {
                    missing.add(blob);
                }
            }
            if (!missing.isEmpty()) {
                warnings.add(new Warning(Warning.LAYERS_NOT_IN_REPOSITORY, "the cache config names " + missing.size()
                        + " layer(s) that " + push.repo() + " does not hold, e.g. " + missing.get(0)
                        + ": BuildKit fails to import this cache"));
            }
            for (CacheConfig.CacheLayer layer : config.layers()) {
                if (layer.annotations() != null && layer.annotations().diffId() != null) {
                    addCompression(byDiffId, layer.annotations().diffId(), layer.blob());
                }
            }
        }
        twoCompressions(byDiffId, warnings);
        return new Export(push, shape, config, descriptions, warnings);
    }

    /**
     * The inline cache of an image pushed under a tag, given its config; empty when it has none.
     */
    Optional<Export> inlineCache(Push push, ImageManifest image, byte[] config) {
        long size = image.config().size();
        if (push.tag() == null || !carriesInlineCache(config)) {
            return Optional.empty(); // an inline cache is compared by tag: see docs/builds.md
        }
        List<Warning> warnings = new ArrayList<>();
        if (size > BuildInsight.MAX_IMPORTABLE_CONFIG_BYTES) {
            warnings.add(tooLarge(size));
        }
        CacheConfig cache = null;
        try {
            cache = parser.parseInlineCache(config, image).orElse(null);
        } catch (RegistryException e) {
            warnings.add(unparsable("inline cache of " + image.config().digest(), e));
        }
        Map<Digest, List<Digest>> byDiffId = new java.util.LinkedHashMap<>();
        if (cache != null) {
            for (CacheConfig.CacheLayer layer : cache.layers()) {
                if (layer.annotations() != null && layer.annotations().diffId() != null) {
                    addCompression(byDiffId, layer.annotations().diffId(), layer.blob());
                }
            }
        }
        twoCompressions(byDiffId, warnings);
        return Optional.of(new Export(push, "inline", cache, Map.of(), warnings));
    }

    /** The instruction a buildah step's image was made by, or null. */
    String stepInstruction(byte[] config) {
        return parser.parseImageConfig(config).map(PushReader::lastInstruction).orElse(null);
    }

    /** A quick look before parsing: the key is in the config's bytes (parsing says whether it is a key). */
    static boolean carriesInlineCache(byte[] config) {
        byte[] key = ("\"" + ImageConfig.INLINE_CACHE + "\"").getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        outer:
        for (int i = 0; i + key.length <= config.length; i++) {
            for (int j = 0; j < key.length; j++) {
                if (config[i + j] != key[j]) {
                    continue outer;
                }
            }
            return true;
        }
        return false;
    }

    /** The instruction of the last history entry: the step this image was made by. */
    static String lastInstruction(ImageConfig config) {
        List<ImageConfig.History> history = config.history();
        for (int i = history.size() - 1; i >= 0; i--) {
            String by = history.get(i).createdBy().trim();
            if (!by.isEmpty()) {
                return by;
            }
        }
        return null;
    }

    /** A config blob's bytes, at most {@link BuildInsight#BuildInsight.MAX_CONFIG_READ_BYTES}. */
    byte[] config(RepositoryName repo, Digest digest, long stated) throws IOException {
        if (stated > BuildInsight.MAX_CONFIG_READ_BYTES) {
            throw new IOException("it is " + stated + " bytes, more than the " + BuildInsight.MAX_CONFIG_READ_BYTES
                    + " this server reads");
        }
        BlobService.OpenBlob blob = blobs.open(repo, digest);
        try (BlobContent content = blob.content()) {
            long size = blob.size();
            if (size > BuildInsight.MAX_CONFIG_READ_BYTES) {
                throw new IOException("it is " + size + " bytes, more than the " + BuildInsight.MAX_CONFIG_READ_BYTES
                        + " this server reads");
            }
            if (content instanceof BlobContent.Inline inline && inline.bytes().length == size) {
                return inline.bytes();
            }
            ByteBuffer buffer = ByteBuffer.allocate((int) size);
            while (buffer.hasRemaining() && content.read(buffer, buffer.position()) >= 0) {
                // a positional read: a file's channel may be shared
            }
            return buffer.array();
        }
    }

    static Warning tooLarge(long size) {
        return new Warning(Warning.CONFIG_TOO_LARGE, String.format(java.util.Locale.ROOT,
                "cache config is %.1f MiB; BuildKit refuses to import cache configs over 1 MiB", size / 1048576.0));
    }

    private static Warning unparsable(String what, Exception e) {
        String why = e instanceof RegistryException r ? r.getMessage() : e.getMessage();
        return new Warning(Warning.UNPARSABLE, what + " cannot be read: " + why);
    }

    private static void addCompression(Map<Digest, List<Digest>> byDiffId, Digest diffId, Digest blob) {
        List<Digest> blobsOf = byDiffId.computeIfAbsent(diffId, d -> new ArrayList<>(1));
        if (!blobsOf.contains(blob) && blobsOf.size() < 4) {
            blobsOf.add(blob);
        }
    }

    private static void twoCompressions(Map<Digest, List<Digest>> byDiffId, List<Warning> warnings) {
        for (Map.Entry<Digest, List<Digest>> e : byDiffId.entrySet()) {
            if (e.getValue().size() > 1) {
                warnings.add(new Warning(Warning.TWO_COMPRESSIONS, "layer " + e.getKey() + " (uncompressed) is stored as "
                        + e.getValue().size() + " blobs (" + e.getValue().get(0) + ", " + e.getValue().get(1)
                        + "): two compressions of one layer double its storage and split its cache"));
                return; // one is enough to say it; the metric counts exports, not layers
            }
        }
    }

}
