package dev.layercache.server.metadata;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.api.v1.StepIdentity;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.core.Root;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each index's typed iteration reads what the index (or a store written before it had one)
 * wrote, key layout byte for byte as {@link Table} draws it, and skips or flags what it cannot
 * read. The raw writes here are the on-disk encodings: if one of these tests has to change, so
 * do stores in the field.
 */
class TypedIterationTest {
    private static final RepositoryName APP = RepositoryName.parse("team/app");
    private static final RepositoryName LIB = RepositoryName.parse("team/lib");
    private static final Digest A = digest("a");
    private static final Digest B = digest("b");

    @TempDir
    Path dir;
    private KeyValueStore kv;

    @BeforeEach
    void open() {
        kv = new RocksKeyValueStore(dir.resolve("db"));
    }

    @AfterEach
    void close() {
        kv.close();
    }

    private static Digest digest(String content) {
        return Digest.sha256(content.getBytes(StandardCharsets.UTF_8));
    }

    private void raw(Table table, byte[] key, byte[] value) {
        kv.batch().put(table, key, value).commit(false);
    }

    private static byte[] longs(long... values) {
        ByteBuffer b = ByteBuffer.allocate(8 * values.length);
        for (long v : values) {
            b.putLong(v);
        }
        return b.array();
    }

    @Test
    void blobsComeInDigestOrderWithTheirRecordAcrossPages() {
        BlobIndex blobs = new BlobIndex(kv);
        KeyValueStore.Batch batch = kv.batch();
        List<Digest> written = new ArrayList<>();
        for (int i = 0; i < 5000; i++) { // more than one page of the scan
            Digest d = digest("blob " + i);
            written.add(d);
            blobs.put(batch, d, i, 1000L + i);
        }
        batch.commit(false);
        raw(Table.BLOBS, Keys.utf8("not-a-digest"), longs(1, 2));
        assertArrayEquals(longs(7, 1007), kv.get(Table.BLOBS, Keys.utf8(written.get(7).toString())),
                "BLOBS: digest -> size, created-at");

        List<Digest> seen = new ArrayList<>();
        blobs.forEach((d, record) -> {
            int i = written.indexOf(d);
            assertEquals(new BlobIndex.Record(i, 1000L + i), record);
            seen.add(d);
        });
        assertEquals(written.stream().map(Digest::toString).sorted().toList(),
                seen.stream().map(Digest::toString).toList(), "every blob once, in key order; the bad key skipped");
        assertEquals(new BlobIndex.Record(7, 1007), blobs.get(written.get(7)));
        assertNull(blobs.get(digest("absent")));
        assertEquals(5001, kv.count(Table.BLOBS), "a count is of records, readable or not");
    }

    @Test
    void linksComeAsRepositoryDigestAndSize() {
        LinkIndex links = new LinkIndex(kv);
        KeyValueStore.Batch batch = kv.batch();
        links.put(batch, LIB, A, 10);
        batch.commit(false);
        raw(Table.LINKS, Keys.of("team/app", B.toString()), longs(20)); // as written by any version
        raw(Table.LINKS, Keys.of("Not A Repo", A.toString()), longs(1));
        List<String> seen = new ArrayList<>();
        links.forEach((repo, d, size) -> seen.add(repo + " " + d + " " + size));
        assertEquals(List.of("team/app " + B + " 20", "team/lib " + A + " 10"), seen);
        assertEquals(20, links.size(APP, B));
    }

    @Test
    void manifestsComeWithTheirRepositoryAndAreCounted() {
        ManifestIndex manifests = new ManifestIndex(kv);
        byte[] content = "{\"schemaVersion\":2}".getBytes(StandardCharsets.UTF_8);
        KeyValueStore.Batch batch = kv.batch();
        manifests.put(batch, APP, new ManifestIndex.StoredManifest(A, "application/vnd.oci.image.manifest.v1+json",
                content));
        manifests.put(batch, LIB, new ManifestIndex.StoredManifest(B, "x/y", new byte[0]));
        batch.commit(false);
        byte[] stored = kv.get(Table.MANIFESTS, Keys.of("team/app", A.toString()));
        assertEquals(1, stored[0], "MANIFESTS: format 1, media type length and bytes, content");
        List<String> seen = new ArrayList<>();
        manifests.forEach((repo, m) -> seen.add(repo + "@" + m.digest() + " " + m.mediaType() + " "
                + m.content().length));
        assertEquals(List.of("team/app@" + A + " application/vnd.oci.image.manifest.v1+json " + content.length,
                "team/lib@" + B + " x/y 0"), seen);
        assertEquals(2, manifests.count());
    }

    @Test
    void tagsComeAsRepositoryTagAndTarget() {
        TagIndex tags = new TagIndex(kv);
        raw(Table.TAGS, Keys.of("team/app", "latest"), Keys.utf8(A.toString()));
        raw(Table.TAGS, Keys.of("team/app", "v1"), Keys.utf8(B.toString()));
        raw(Table.TAGS, Keys.of("team/lib", "broken"), Keys.utf8("not a digest"));
        List<String> seen = new ArrayList<>();
        tags.forEachTag((repo, tag, d) -> seen.add(repo + ":" + tag + " " + d));
        assertEquals(List.of("team/app:latest " + A, "team/app:v1 " + B), seen);
        assertEquals(3, tags.count());
        assertTrue(tags.exists(APP, "v1"));
        assertEquals(A, tags.get(APP, dev.layercache.server.core.Tag.parse("latest")));
    }

    @Test
    void entriesComeWithTheirKeyAndAnUnreadableOneAsNull() {
        EntryIndex entries = new EntryIndex(kv);
        Entry entry = Entry.newBuilder().setKey(A.toString())
                .addLayers(LayerDescriptor.newBuilder().setDigest(B.toString()).setSize(3)).build();
        KeyValueStore.Batch batch = kv.batch();
        entries.put(batch, APP, entry);
        batch.commit(false);
        assertArrayEquals(entry.toByteArray(), kv.get(Table.ENTRIES, Keys.of("team/app", A.toString())),
                "ENTRIES: namespace \\0 key -> Entry");
        raw(Table.ENTRIES, Keys.of("team/lib", B.toString()), new byte[] {(byte) 0xff, 0x01});
        List<String> seen = new ArrayList<>();
        entries.forEach((ns, key, e) -> seen.add(ns + " " + key + " "
                + (e == null ? "unreadable" : e.getLayers(0).getDigest())));
        assertEquals(List.of("team/app " + A + " " + B, "team/lib " + B + " unreadable"), seen);
        assertEquals(entry, entries.get(APP, A));
        assertTrue(entries.exists(RepositoryName.parse("team/lib"), B));
        assertEquals(2, entries.count());
    }

    @Test
    void historyRecordsComeByRepositoryWithTheirTime() {
        TombstoneIndex tombstones = new TombstoneIndex(kv);
        StepIndex steps = new StepIndex(kv);
        KeyValueStore.Batch batch = kv.batch();
        tombstones.put(batch, "team/app", "latest", 5000);
        steps.put(batch, APP, Entry.newBuilder().setKey(A.toString())
                .setStep(StepIdentity.newBuilder().setStepId("build"))
                .setCreatedAt(Timestamp.newBuilder().setSeconds(7).setNanos(250_000_000)).build());
        batch.commit(false);
        assertArrayEquals(longs(5000), kv.get(Table.TOMBSTONES, Keys.of("team/app", "latest")));
        assertNotNull(kv.get(Table.STEPS, Keys.of("team/app", "build")));
        raw(Table.TOMBSTONES, Keys.of("team/app", "odd"), new byte[3]);
        raw(Table.STEPS, Keys.of("team/lib", "corrupt"), new byte[] {(byte) 0xff});

        List<String> seen = new ArrayList<>();
        tombstones.forEach((repo, name, at) -> seen.add(repo + " " + name + " " + at));
        assertEquals(List.of("team/app latest 5000", "team/app odd 0"), seen, "unreadable: as old as can be");
        seen.clear();
        steps.forEach((repo, name, at) -> seen.add(repo + " " + name + " " + at));
        assertEquals(List.of("team/app build 7250", "team/lib corrupt 0"), seen);

        batch = kv.batch();
        tombstones.delete(batch, "team/app", "odd");
        steps.delete(batch, "team/lib", "corrupt");
        batch.commit(false);
        assertEquals(1, kv.count(Table.TOMBSTONES));
        assertEquals(1, kv.count(Table.STEPS));
    }

    @Test
    void lastUsesComeByRootInMillisAndMinutesFromOlderStoresAreConverted() {
        AccessIndex uses = new AccessIndex(kv);
        Root tag = new Root(Root.Kind.TAG, "team/app", "latest");
        Root entry = new Root(Root.Kind.ENTRY, "team/app", A.toString());
        Root manifest = new Root(Root.Kind.MANIFEST, "team/lib", B.toString());
        KeyValueStore.Batch batch = kv.batch();
        uses.put(batch, tag, 1_700_000_000_000L);
        batch.commit(false);
        assertArrayEquals(longs(1_700_000_000_000L), kv.get(Table.ACCESS, Keys.of("TAG", "team/app", "latest")),
                "ACCESS: kind \\0 repo \\0 name -> millis");
        raw(Table.ACCESS, Keys.of("ENTRY", "team/app", A.toString()), longs(28_000_000)); // minutes
        raw(Table.ACCESS, Keys.of("MANIFEST", "team/lib", B.toString()), longs(1_600_000_000_000L));
        raw(Table.ACCESS, Keys.of("WIDGET", "team/app", "x"), longs(1)); // a kind this version does not know
        raw(Table.ACCESS, Keys.of("TAG", "no-name"), longs(1));

        java.util.Map<Root, Long> seen = new java.util.HashMap<>();
        uses.forEach(seen::put);
        assertEquals(java.util.Map.of(tag, 1_700_000_000_000L, entry, 28_000_000L * 60_000,
                manifest, 1_600_000_000_000L), seen);
        assertEquals(28_000_000L * 60_000, uses.get(entry));
        assertEquals(-1, uses.get(new Root(Root.Kind.TAG, "team/app", "absent")));

        assertEquals(3, uses.removeIf(r -> r.kind() == Root.Kind.MANIFEST), "the manifest and the two unreadable");
        seen.clear();
        uses.forEach(seen::put);
        assertEquals(java.util.Set.of(tag, entry), seen.keySet());
        assertEquals(2, kv.count(Table.ACCESS));
    }

    @Test
    void releasesAndAnalysesArePrunedThroughTheirIndex() {
        ReleaseIndex releases = new ReleaseIndex(kv);
        KeyValueStore.Batch batch = kv.batch();
        releases.put(batch, A, 100, ReleaseIndex.Scope.ROOT);
        releases.put(batch, B, 900, ReleaseIndex.Scope.DELETED);
        batch.commit(false);
        raw(Table.RELEASES, Keys.utf8("junk"), new byte[9]);
        raw(Table.RELEASES, Keys.utf8(digest("c").toString()), new byte[] {1});
        assertEquals(3, releases.removeIf((d, r) -> r.atMillis() < 500), "A, and the two records that cannot be read");
        assertNull(releases.get(A));
        assertEquals(new ReleaseIndex.Release(900, ReleaseIndex.Scope.DELETED), releases.get(B));

        AnalysisIndex analyses = new AnalysisIndex(kv);
        assertTrue(analyses.isEmpty());
        batch = kv.batch();
        analyses.put(batch, 1, A, new byte[] {'{', '}'});
        analyses.put(batch, 1, B, new byte[] {'{', '}'});
        analyses.put(batch, 2, A, new byte[] {'{', '}'});
        batch.commit(false);
        assertNotNull(kv.get(Table.ANALYSES, Keys.utf8("v1\0" + A)), "ANALYSES: v<rules> \\0 digest");
        raw(Table.ANALYSES, Keys.utf8("garbage"), new byte[0]);
        List<String> asked = new ArrayList<>();
        assertEquals(2, analyses.removeIf((rules, manifest) -> {
            asked.add(rules + " " + manifest);
            return rules != 2 && !manifest.equals(B.toString());
        }), "v1 of A, and the key that cannot be read");
        assertEquals(3, asked.size(), "the unreadable key is not asked about");
        assertNotNull(analyses.get(1, B));
        assertNotNull(analyses.get(2, A));
        assertNull(analyses.get(1, A));
    }

    @Test
    void deletionsCommitInBatchesAndCountThemAll() {
        KeyValueStore.Batch batch = kv.batch();
        for (int i = 0; i < Deletions.BATCH + 5; i++) {
            batch.put(Table.TOMBSTONES, Keys.of("r", "n" + i), longs(i));
        }
        batch.commit(false);
        TombstoneIndex tombstones = new TombstoneIndex(kv);
        Deletions out = new Deletions(kv);
        for (int i = 0; i < Deletions.BATCH + 1; i++) {
            String name = "n" + i;
            out.add(b -> tombstones.delete(b, "r", name));
        }
        assertEquals(5, kv.count(Table.TOMBSTONES), "a full batch is committed at once, the rest waits");
        assertEquals(Deletions.BATCH + 1, out.finish());
        assertEquals(4, kv.count(Table.TOMBSTONES));
    }
}
