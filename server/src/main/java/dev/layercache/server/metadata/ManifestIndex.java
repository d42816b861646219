package dev.layercache.server.metadata;

import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.function.BiConsumer;

/**
 * MANIFESTS: manifest bytes exactly as pushed, with the media type they were pushed with, per
 * repository. Manifests are small (a few KiB, at most the configured limit), so they live in the
 * metadata store itself: a {@code GET} by tag is two point lookups and no file access.
 */
public final class ManifestIndex {
    private static final byte FORMAT = 1;

    /** A stored manifest. */
    public record StoredManifest(Digest digest, String mediaType, byte[] content) {
    }

    private final KeyValueStore kv;

    public ManifestIndex(KeyValueStore kv) {
        this.kv = kv;
    }

    public StoredManifest get(RepositoryName repo, Digest digest) {
        byte[] v = kv.get(Table.MANIFESTS, Keys.of(repo.toString(), digest.toString()));
        return v == null ? null : decode(digest, v);
    }

    /** A MANIFESTS record's value as a manifest (for scans of the table: the shared store's objects, a repository's manifests). */
    public static StoredManifest decode(Digest digest, byte[] v) {
        ByteBuffer b = ByteBuffer.wrap(v);
        byte format = b.get();
        if (format != FORMAT) {
            throw new MetadataException("unknown manifest record format " + format, null);
        }
        byte[] type = new byte[b.getShort() & 0xffff];
        b.get(type);
        byte[] content = new byte[b.remaining()];
        b.get(content);
        return new StoredManifest(digest, new String(type, StandardCharsets.UTF_8), content);
    }

    public boolean exists(RepositoryName repo, Digest digest) {
        return kv.get(Table.MANIFESTS, Keys.of(repo.toString(), digest.toString())) != null;
    }

    public void put(KeyValueStore.Batch batch, RepositoryName repo, StoredManifest m) {
        byte[] type = m.mediaType().getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(1 + 2 + type.length + m.content().length);
        b.put(FORMAT).putShort((short) type.length).put(type).put(m.content());
        batch.put(Table.MANIFESTS, Keys.of(repo.toString(), m.digest().toString()), b.array());
    }

    public void delete(KeyValueStore.Batch batch, RepositoryName repo, Digest digest) {
        batch.delete(Table.MANIFESTS, Keys.of(repo.toString(), digest.toString()));
    }

    /**
     * Every stored manifest with its repository, by repository then digest, read page by page.
     * A key this version would not write (not a repository name and a digest) is skipped; a
     * value of an unknown format fails the scan, as it fails {@link #get}: a pass that must see
     * every manifest (the collector's mark) must not go on without one.
     */
    public void forEach(BiConsumer<RepositoryName, StoredManifest> action) {
        kv.forEach(Table.MANIFESTS, e -> {
            String[] key = Keys.split(e.key());
            if (key.length == 2 && RepositoryName.isValid(key[0]) && Digest.isValid(key[1])) {
                action.accept(RepositoryName.parse(key[0]), decode(Digest.parse(key[1]), e.value()));
            }
        });
    }

    /** How many manifests are stored, in every repository. */
    public long count() {
        return kv.count(Table.MANIFESTS);
    }
}
