package dev.layercache.server.tools;

import dev.layercache.server.core.Digest;
import dev.layercache.server.core.MediaTypes;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.core.Tag;
import dev.layercache.server.metadata.BlobIndex;
import dev.layercache.server.metadata.KeyValueStore;
import dev.layercache.server.metadata.LinkIndex;
import dev.layercache.server.metadata.ManifestIndex;
import dev.layercache.server.metadata.RepositoryIndex;
import dev.layercache.server.metadata.RocksKeyValueStore;
import dev.layercache.server.metadata.TagIndex;
import dev.layercache.server.storage.DataLayout;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes a large store straight into a data folder, for the lifecycle benchmarks (a start on a
 * million blobs, a collection beside requests): pushing that much through the API would take
 * an hour of fsyncs. Blobs are small, valid (named by their SHA-256), and a day old; roots are
 * tagged image manifests of {@code layers} blobs each; the last fifth of the blobs is referenced
 * by nothing, so a collection has work.
 *
 * <pre>java -cp layercache-server.jar dev.layercache.server.tools.SyntheticStore DATA-DIR BLOBS ROOTS [LAYERS]</pre>
 */
public final class SyntheticStore {
    private static final int REPOSITORIES = 100;
    private static final int BATCH = 10_000;

    private SyntheticStore() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 3) {
            System.err.println("usage: SyntheticStore DATA-DIR BLOBS ROOTS [LAYERS-PER-ROOT]");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        int blobs = Integer.parseInt(args[1]);
        int roots = Integer.parseInt(args[2]);
        int layers = args.length > 3 ? Integer.parseInt(args[3]) : 8;
        long started = System.nanoTime();
        DataLayout layout = new DataLayout(dir).create();
        try (RocksKeyValueStore kv = new RocksKeyValueStore(layout.metadata())) {
            List<Digest> digests = writeBlobs(layout, kv, blobs);
            writeRoots(kv, digests, roots, layers);
        }
        System.out.printf("wrote %d blobs and %d roots to %s in %.1f s%n", blobs, roots, dir,
                (System.nanoTime() - started) / 1e9);
    }

    private static List<Digest> writeBlobs(DataLayout layout, KeyValueStore kv, int count) throws IOException {
        BlobIndex index = new BlobIndex(kv);
        LinkIndex links = new LinkIndex(kv);
        RepositoryIndex repositories = new RepositoryIndex(kv);
        long dayAgo = System.currentTimeMillis() - 86_400_000L;
        List<Digest> digests = new ArrayList<>(count);
        KeyValueStore.Batch batch = kv.batch();
        for (int i = 0; i < count; i++) {
            byte[] content = ("synthetic blob " + i + " ".repeat(200)).getBytes(StandardCharsets.UTF_8);
            Digest d = Digest.sha256(content);
            Path file = layout.blob(d);
            Files.createDirectories(file.getParent());
            Files.write(file, content);
            RepositoryName repo = repository(i);
            index.put(batch, d, content.length, dayAgo);
            links.put(batch, repo, d, content.length);
            repositories.put(batch, repo);
            digests.add(d);
            if ((i + 1) % BATCH == 0) {
                batch.commit(false);
                batch = kv.batch();
            }
        }
        batch.commit(true);
        return digests;
    }

    private static void writeRoots(KeyValueStore kv, List<Digest> digests, int roots, int layers) {
        ManifestIndex manifests = new ManifestIndex(kv);
        TagIndex tags = new TagIndex(kv);
        int referenced = digests.size() * 4 / 5;
        KeyValueStore.Batch batch = kv.batch();
        for (int r = 0; r < roots; r++) {
            StringBuilder json = new StringBuilder("{\"schemaVersion\":2,\"mediaType\":\"").append(MediaTypes.OCI_MANIFEST)
                    .append("\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"")
                    .append(digests.get((r * layers) % referenced)).append("\",\"size\":1},\"layers\":[");
            for (int l = 1; l <= layers; l++) {
                if (l > 1) {
                    json.append(',');
                }
                json.append("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"")
                        .append(digests.get((r * layers + l) % referenced)).append("\",\"size\":1}");
            }
            byte[] content = json.append("]}").toString().getBytes(StandardCharsets.UTF_8);
            Digest digest = Digest.sha256(content);
            RepositoryName repo = repository(r);
            manifests.put(batch, repo, new ManifestIndex.StoredManifest(digest, MediaTypes.OCI_MANIFEST, content));
            tags.put(batch, repo, Tag.parse("t" + r), digest);
            if ((r + 1) % BATCH == 0) {
                batch.commit(false);
                batch = kv.batch();
            }
        }
        batch.commit(true);
    }

    private static RepositoryName repository(int i) {
        return RepositoryName.parse("bench/r" + (i % REPOSITORIES));
    }
}
