package dev.layercache.server.metadata;

import dev.layercache.server.core.RepositoryName;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * UPLOADS: resumable upload sessions. The recorded offset is what the server last acknowledged;
 * after a restart the upload file is cut back to it, so a client resumes exactly where its last
 * acknowledged chunk ended.
 */
public final class UploadIndex {

    /**
     * A persisted upload session.
     *
     * @param lastActiveMillis when a request last worked on it: idle sessions expire long before old ones
     */
    public record UploadRecord(String id, RepositoryName repository, long startedAtMillis, long offset, String owner,
                               long lastActiveMillis) {
        /** A session that has not been worked on since it started. */
        public UploadRecord(String id, RepositoryName repository, long startedAtMillis, long offset, String owner) {
            this(id, repository, startedAtMillis, offset, owner, startedAtMillis);
        }
    }

    private final KeyValueStore kv;

    public UploadIndex(KeyValueStore kv) {
        this.kv = kv;
    }

    public UploadRecord get(String id) {
        byte[] v = kv.get(Table.UPLOADS, Keys.utf8(id));
        return v == null ? null : decode(id, v);
    }

    public void put(KeyValueStore.Batch batch, UploadRecord r) {
        byte[] repo = r.repository().toString().getBytes(StandardCharsets.UTF_8);
        byte[] owner = r.owner().getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(2 + repo.length + 16 + 2 + owner.length + 8);
        b.putShort((short) repo.length).put(repo).putLong(r.startedAtMillis()).putLong(r.offset())
                .putShort((short) owner.length).put(owner).putLong(r.lastActiveMillis());
        batch.put(Table.UPLOADS, Keys.utf8(r.id()), b.array());
    }

    public void delete(KeyValueStore.Batch batch, String id) {
        batch.delete(Table.UPLOADS, Keys.utf8(id));
    }

    public List<UploadRecord> all() {
        List<UploadRecord> out = new ArrayList<>();
        byte[] after = null;
        while (true) {
            List<KeyValueStore.Entry> page = kv.scan(Table.UPLOADS, new byte[0], after, 1000);
            for (KeyValueStore.Entry e : page) {
                out.add(decode(Keys.string(e.key()), e.value()));
            }
            if (page.size() < 1000) {
                return out;
            }
            after = page.get(page.size() - 1).key();
        }
    }

    private static UploadRecord decode(String id, byte[] v) {
        ByteBuffer b = ByteBuffer.wrap(v);
        byte[] repo = new byte[b.getShort() & 0xffff];
        b.get(repo);
        RepositoryName repository = RepositoryName.parse(new String(repo, StandardCharsets.UTF_8));
        long startedAt = b.getLong();
        long offset = b.getLong();
        String owner = "anonymous"; // records written before uploads had owners
        if (b.remaining() >= 2) {
            byte[] o = new byte[b.getShort() & 0xffff];
            b.get(o);
            owner = new String(o, StandardCharsets.UTF_8);
        }
        long lastActive = b.remaining() >= 8 ? b.getLong() : startedAt; // records written before idle expiry
        return new UploadRecord(id, repository, startedAt, offset, owner, lastActive);
    }
}
